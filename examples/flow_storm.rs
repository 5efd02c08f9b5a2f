//! Full flows under concurrency: N simulated users each run start → the provider's consent
//! → our callback over loopback HTTP against `bench_host`, at once. Reports lost and
//! duplicated accounts and latency percentiles of the whole flow.
//!
//! `cargo run --release --example flow_storm -- <host:port> <api key> [users=1000]`

use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect("host:port of bench_host");
    let key = args.next().expect("api key");
    let users: usize = args.next().map(|n| n.parse().expect("users")).unwrap_or(1000);
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for user in 0..users {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        set.spawn(async move {
            let t = Instant::now();
            let start: serde_json::Value = http
                .get(format!("{base}/v1/oauth/mock/start"))
                .query(&[("return_url", format!("{base}/done")), ("external_id", format!("user-{user}"))])
                .header("authorization", format!("Bearer {key}"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let authorize = start["authorize_url"].as_str().ok_or("no authorize_url")?;
            // Follow the redirects by hand: our hop (with browser binding: it sets the binding
            // cookie), the provider's consent, our callback (which needs that cookie); the
            // last one goes back to the host's return URL.
            let mut url = authorize.to_owned();
            let mut cookie: Option<String> = None;
            let done = loop {
                let ours = url.starts_with(&base);
                let mut request = http.get(&url);
                if let (true, Some(c)) = (ours, &cookie) {
                    request = request.header("cookie", c);
                }
                let res = request.send().await.map_err(|e| e.to_string())?;
                if let (true, Some(set)) = (ours, res.headers().get("set-cookie")) {
                    let set = set.to_str().map_err(|e| e.to_string())?;
                    cookie = set.split(';').next().map(str::to_owned);
                }
                let next = res
                    .headers()
                    .get("location")
                    .ok_or("a redirect was expected")?
                    .to_str()
                    .map_err(|e| e.to_string())?;
                if next.starts_with(&format!("{base}/done")) {
                    break next.to_owned();
                }
                url = next.to_owned();
            };
            if !done.contains("connected=mock") {
                return Err(format!("flow failed: {done}"));
            }
            Ok::<Duration, String>(t.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(users);
    let mut errors = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.expect("task") {
            Ok(d) => latencies.push(d),
            Err(e) => errors.push(e),
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    // Every user connected exactly one account: list them all.
    let mut ids = std::collections::HashSet::new();
    let mut total = 0usize;
    let mut cursor: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{base}/v1/accounts"))
            .header("authorization", format!("Bearer {key}"))
            .query(&[("limit", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: serde_json::Value = req.send().await.expect("list").json().await.expect("json");
        for a in page["data"].as_array().expect("data") {
            total += 1;
            ids.insert(a["external_id"].as_str().unwrap_or_default().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let lost = users.saturating_sub(ids.len());
    let duplicated = total - ids.len();
    println!(
        "flow_storm users={users} ok={} errors={} accounts={total} lost={lost} duplicated={duplicated} wall={:.2}s p50={:.1}ms p99={:.1}ms max={:.1}ms",
        latencies.len(),
        errors.len(),
        wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    if let Some(e) = errors.first() {
        println!("first error: {e}");
    }
}
