//! Core costs beside their floors: state sign/verify vs raw HMAC-SHA256 of the same bytes
//! (key set up once), the return-URL check at 1, 100 and 10,000 entries, SecretBox seal/open.
//!
//! `cargo bench --bench core`. Results and ratios: BENCHMARKS.md.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dravo_connect::{FlowId, KeyId, ProviderId, ReturnUrlAllowlist, Secret};
use dravo_connect_core::secret_box::SecretBox;
use dravo_connect_core::state::StateSigner;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::macros::datetime;

fn state(c: &mut Criterion) {
    let key = vec![0x42u8; 32];
    let signer = StateSigner::new([(KeyId::zero(), Secret::new(key.clone()))]).unwrap();
    let provider: ProviderId = "x".parse().unwrap();
    let flow = FlowId::generate();
    let exp = datetime!(2030-01-01 0:00 UTC);
    let state = signer.sign(&provider, &flow, exp);
    // The floor: HMAC-SHA256 over the bytes the tag covers (a 64-byte label block, the
    // provider, the 31-byte header), with the key set up once.
    let keyed = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let msg = [0u8; 64 + 2 + 31];
    let mut g = c.benchmark_group("state");
    g.bench_function("raw_hmac_sha256_floor", |b| {
        b.iter(|| {
            let mut m = keyed.clone();
            m.update(black_box(&msg));
            black_box(m.finalize().into_bytes())
        })
    });
    g.bench_function("sign", |b| b.iter(|| black_box(signer.sign(black_box(&provider), &flow, exp))));
    g.bench_function("verify", |b| {
        b.iter(|| black_box(signer.verify(black_box(&provider), black_box(&state)).unwrap()))
    });
    g.finish();
}

fn allowlist(c: &mut Criterion) {
    let mut g = c.benchmark_group("allowlist_check");
    for n in [1usize, 100, 10_000] {
        let entries: Vec<String> = (0..n).map(|i| format!("https://app{i}.acme.example/connect")).collect();
        let list = ReturnUrlAllowlist::new(&entries).unwrap();
        // Eight candidates in turn, more than an allowlist remembers: every check parses and
        // looks the origin up (and remembers the candidate, pushing out another).
        let candidates: Vec<String> =
            (0..8).map(|k| format!("https://app{}.acme.example/connect/done?x={k}", n - 1)).collect();
        assert!(candidates.iter().all(|c| list.check(c).is_ok()));
        let mut next = 0;
        g.bench_with_input(BenchmarkId::new("first_sight", n), &candidates, |b, cands| {
            b.iter(|| {
                next = (next + 1) % cands.len();
                black_box(list.check(black_box(&cands[next])).unwrap())
            })
        });
        // One candidate again and again, as when every user returns to the same page: answered
        // from what the allowlist remembers.
        let candidate = &candidates[0];
        g.bench_with_input(BenchmarkId::new("remembered", n), candidate, |b, cand| {
            b.iter(|| black_box(list.check(black_box(cand)).unwrap()))
        });
    }
    // The floor of any check: parsing the URL once.
    let candidate = "https://app0.acme.example/connect/done?x=1";
    g.bench_function("url_parse_floor", |b| b.iter(|| black_box(url::Url::parse(black_box(candidate)).unwrap())));
    g.finish();
}

fn secret_box(c: &mut Criterion) {
    let sb = SecretBox::new([(KeyId::zero(), Secret::new(vec![7u8; 32]))]).unwrap();
    let token = b"mock_at_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    let sealed = sb.seal("acc_0123456789abcdefghijklmnop", "access_token", token);
    let mut g = c.benchmark_group("secret_box");
    g.bench_function("seal_48_bytes", |b| {
        b.iter(|| black_box(sb.seal("acc_0123456789abcdefghijklmnop", "access_token", black_box(token))))
    });
    g.bench_function("open_48_bytes", |b| {
        b.iter(|| black_box(sb.open("acc_0123456789abcdefghijklmnop", "access_token", black_box(&sealed)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, state, allowlist, secret_box);
criterion_main!(benches);
