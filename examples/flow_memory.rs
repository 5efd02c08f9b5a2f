//! Memory per pending flow in `MemoryStore` with a 60-character return URL, measured with a
//! counting global allocator (live bytes after inserting N flows, minus before, over N).
//!
//! `cargo run --release --example flow_memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use dravo_connect::store::{MemoryStore, PendingFlow, Store};
use dravo_connect::{AppId, FlowId, KeyId, Secret};
use dravo_connect_core::pkce::PkceVerifier;
use dravo_connect_core::secret_box::SecretBox;
use time::macros::datetime;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; it only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sb = SecretBox::new([(KeyId::zero(), Secret::new(vec![3; 32]))]).expect("key");
    let return_url = "https://app.acme-example.com/connect/done?source=dashboard12"; // 60 chars
    assert_eq!(return_url.len(), 60);
    let app = AppId::generate();
    for n in [1_000usize, 10_000, 100_000] {
        let store = MemoryStore::new();
        // Counted from before the records are built: the store takes them whole (their
        // strings, the record boxed, its table entry), and the list they came in is gone.
        let before = LIVE.load(Ordering::Relaxed);
        let flows: Vec<PendingFlow> = (0..n)
            .map(|i| {
                let id = FlowId::generate();
                let v = PkceVerifier::generate();
                let pkce_verifier = sb.seal(&id.to_string(), "pkce_verifier", v.secret().expose_secret().as_bytes());
                let mut flow = PendingFlow::new(
                    id,
                    "acme".parse().expect("tenant"),
                    app.clone(),
                    "x".parse().expect("provider"),
                    return_url,
                    "https://connect.acme-example.com/v1/oauth/x/callback",
                    datetime!(2026-01-01 0:00 UTC),
                    datetime!(2026-01-01 0:10 UTC),
                );
                flow.pkce_verifier = Some(pkce_verifier);
                flow.scopes =
                    vec!["tweet.read".into(), "users.read".into(), "tweet.write".into(), "offline.access".into()];
                flow.external_id = Some(format!("user-{i}").parse().expect("external id"));
                flow
            })
            .collect();
        for f in flows {
            store.insert_flow(f, u32::MAX).await.expect("insert");
        }
        let after = LIVE.load(Ordering::Relaxed);
        println!("flow_memory flows={n} bytes_per_flow={}", (after - before) / n as isize);
        drop(store);
    }
}
