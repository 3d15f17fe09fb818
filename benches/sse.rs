//! Criterion benches of the SSE hot path: parsing upstream bytes into
//! events, and the whole relay (parse → tap → re-emit) of a 100-chunk answer.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use serde_json::json;
use veil::sse::SseParser;
use veil::stream::{RelayOptions, relay};
use veil::upstream::EventStream;

fn chunks(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764000000,
                   "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": format!("token{i} ")},
                   "logprobs": null, "finish_reason": null}], "usage": null})
            .to_string()
        })
        .collect()
}

fn sse_text(chunks: &[String]) -> Vec<u8> {
    let mut text = String::new();
    for c in chunks {
        text.push_str("data: ");
        text.push_str(c);
        text.push_str("\n\n");
    }
    text.push_str("data: [DONE]\n\n");
    text.into_bytes()
}

fn parse(c: &mut Criterion) {
    let bytes = sse_text(&chunks(100));
    let mut group = c.benchmark_group("sse_parse");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    // Network-sized reads of 1,400 bytes, as a provider's stream arrives.
    group.bench_function("100_chunks_in_1400_byte_reads", |b| {
        b.iter(|| {
            let mut parser = SseParser::new();
            let mut events = 0;
            for read in bytes.chunks(1400) {
                parser.push(read).unwrap_or_default();
                while parser.next_event().is_some() {
                    events += 1;
                }
            }
            assert_eq!(events, 101);
        })
    });
    group.finish();
}

fn relay_stream(c: &mut Criterion) {
    let payloads: Vec<Bytes> = chunks(100).into_iter().map(Bytes::from).collect();
    let runtime =
        tokio::runtime::Builder::new_current_thread().build().unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("sse_relay");
    group.throughput(Throughput::Elements(payloads.len() as u64));
    for wants_usage in [true, false] {
        let name = if wants_usage { "100_chunks_passthrough" } else { "100_chunks_strip_usage" };
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let items: Vec<_> = payloads[1..].iter().cloned().map(Ok).collect();
                    let upstream: EventStream = Box::pin(futures_util::stream::iter(items));
                    let out = relay(
                        payloads[0].clone(),
                        upstream,
                        RelayOptions {
                            client_wants_usage: wants_usage,
                            rewrite: veil::stream::Rewrite::None,
                        },
                        |_| {},
                    );
                    let n = out.count().await;
                    assert_eq!(n, 101);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, relay_stream);
criterion_main!(benches);
