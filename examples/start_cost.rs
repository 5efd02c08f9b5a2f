//! Instructions per `start` (with browser binding, the default for https, and without it:
//! `start_unbound`) beside raw HMAC-SHA256 of 200 bytes, for callgrind: the
//! in-process `start` (auth, query, app lookup, allowlist, flow id, PKCE, state, sealed
//! verifier, flow stored, authorize URL, JSON) through `Connect::handle`, outside any framework.
//!
//! ```sh
//! cargo build --release --example start_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/start_cost start 2000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/start_cost start 4000
//! # and the same with `hmac`; (total at 4000 − total at 2000) / 2000 is the cost of one call.
//! ```
//!
//! Valgrind's CPU has no SHA extensions, so both sides run the portable SHA-256: the machine
//! the ≤ 4× goal was written for. `scripts/start_cost.sh` runs the four and prints the ratio.

use std::hint::black_box;

use bytes::Bytes;
use dravo_connect::store::MemoryStore;
use dravo_connect::test_util::MockProvider;
use dravo_connect::{Connect, KeyId, NewApp, Secret, TenantId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const KEY: &str = "bench_key_0123456789abcdef";
const AUTHORIZATION: &str = "Bearer bench_key_0123456789abcdef";
const START: &str = "/v1/oauth/mock/start?return_url=https%3A%2F%2Fapp.acme.example%2Fconnect%2Fdone";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "start".into());
    let n: usize = args.next().map(|s| s.parse().expect("n")).unwrap_or(2000);
    let mock = MockProvider::start().await.expect("mock provider");
    let connect = Connect::builder()
        .public_base_url("https://connect.acme.example")
        .api_key(KEY, "bench".parse::<TenantId>().expect("tenant"))
        .state_key(KeyId::zero(), Secret::new(vec![1; 32]))
        .encryption_key(KeyId::zero(), Secret::new(vec![2; 32]))
        .store(MemoryStore::new())
        .outbound_loopback_only(true)
        .provider_config(mock.provider_config("mock"))
        // `start` answers the browser-binding hop (the default for an https base URL);
        // `start_unbound` builds the provider's authorize URL itself.
        .browser_binding(variant != "start_unbound")
        .build()
        .expect("connect");
    let tenant: TenantId = "bench".parse().expect("tenant");
    connect
        .create_app(
            &tenant,
            NewApp::new("mock", "mock-client", "mock-secret", vec!["https://app.acme.example/connect".into()]),
        )
        .await
        .expect("app");
    let request = || http::Request::get(START).header("authorization", AUTHORIZATION).body(Bytes::new()).expect("req");
    // Warm caches (allowlist per app, parsed endpoint) before counting.
    assert_eq!(connect.handle(request()).await.status(), 200);
    match variant.as_str() {
        "start" | "start_unbound" => {
            for _ in 0..n {
                let res = connect.handle(request()).await;
                assert_eq!(res.status(), 200);
                black_box(res);
            }
        }
        "hmac" => {
            let keyed = Hmac::<Sha256>::new_from_slice(&[1u8; 32]).expect("key");
            let msg = [0u8; 200];
            for _ in 0..n {
                let mut m = keyed.clone();
                m.update(black_box(&msg));
                black_box(m.finalize().into_bytes());
            }
        }
        other => panic!("unknown variant {other}: start | start_unbound | hmac"),
    }
    println!("{variant}: {n} calls");
}
