#![allow(clippy::unwrap_used, clippy::disallowed_methods)]
use std::hint::black_box;
use std::time::{Duration, Instant};
use resilience::{RetryPolicy, ScopeLimits, Upstream, UpstreamConfig};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn median(v: &mut [f64]) -> f64 { v.sort_by(f64::total_cmp); v[v.len()/2] }

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = runtime.block_on(async {
        let server = MockServer::builder().disable_request_recording().start().await;
        Mock::given(path("/ping")).respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":true}"#)).mount(&server).await;
        server
    });
    let url = format!("{}/ping", server.uri());
    let bare = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().unwrap();
    let none = ScopeLimits { per_lead: None, per_account: None, global: None };
    let plain = Upstream::new(UpstreamConfig::new("Bench", server.uri()).with_limits(none).with_retry(RetryPolicy::none())).unwrap();
    
    let bare_call = || runtime.block_on(async { let r = bare.get(&url).send().await.unwrap(); black_box(r.bytes().await.unwrap()); });
    let other = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().unwrap();
    let same = Upstream::builder(UpstreamConfig::new("Bench", server.uri()).with_limits(none).with_retry(RetryPolicy::none())).client(bare.clone()).build().unwrap();
    use backon::Retryable;
    use tracing::Instrument;
    let breaker = resilience::CircuitBreaker::new("x", resilience::BreakerConfig::default());
    let limits = resilience::RateLimits::new(none);
    async fn ex(c: &reqwest::Client, r: reqwest::Request) -> Result<Vec<u8>, reqwest::Error> { let mut a = c.execute(r).await?; let h = std::mem::take(a.headers_mut()); black_box(h); Ok(Vec::from(a.bytes().await?)) }
    let v1 = || runtime.block_on(async { let req = bare.get(&url).build().unwrap(); black_box(tokio::time::timeout(Duration::from_secs(30), Box::pin(ex(&bare, req.try_clone().unwrap()))).await.unwrap().unwrap()); });
    let v2 = || runtime.block_on(async { let req = bare.get(&url).build().unwrap(); let r = &req; let b = &bare;
        black_box((move || async move { tokio::time::timeout(Duration::from_secs(30), Box::pin(ex(b, r.try_clone().unwrap()))).await.map_err(|_| ()) }).retry(RetryPolicy::default().backoff()).when(|_| true).await.unwrap().unwrap()); });
    let v3 = || runtime.block_on(async { let req = bare.get(&url).build().unwrap(); let span = tracing::debug_span!("outbound", upstream = %"x", method = %req.method(), path = %req.url().path());
        Box::pin(async { let r = &req; let b = &bare;
        black_box((move || async move { tokio::time::timeout(Duration::from_secs(30), Box::pin(ex(b, r.try_clone().unwrap()))).await.map_err(|_| ()) }).retry(RetryPolicy::default().backoff()).when(|_| true).await.unwrap().unwrap()); }).instrument(span).await });
    let v4 = || runtime.block_on(async { let req = bare.get(&url).build().unwrap(); let span = tracing::debug_span!("outbound", upstream = %"x", method = %req.method(), path = %req.url().path());
        Box::pin(async { let r = &req; let b = &bare; let br = &breaker; let l = &limits;
        black_box((move || async move { let p = br.try_acquire().unwrap(); l.check(&resilience::LimitKeys::default()).unwrap(); let x = tokio::time::timeout(Duration::from_secs(30), Box::pin(ex(b, r.try_clone().unwrap()))).await.map_err(|_| ()); p.success(); x }).retry(RetryPolicy::default().backoff()).when(|_| true).await.unwrap().unwrap()); }).instrument(span).await });
    let variants: Vec<(&str, Box<dyn Fn()>)> = vec![
        ("v1_timeout_box_clone", Box::new(v1)),
        ("v2_plus_backon", Box::new(v2)),
        ("v3_plus_span", Box::new(v3)),
        ("v4_plus_breaker_limits", Box::new(v4)),
        ("bare_other_client", Box::new(|| runtime.block_on(async { let r = other.get(&url).send().await.unwrap(); black_box(r.bytes().await.unwrap()); }))),
        ("plain_same_client", Box::new(|| runtime.block_on(async { black_box(same.get("/ping").send().await.unwrap().into_bytes()); }))),
        ("bare_again", Box::new(|| runtime.block_on(async { let r = bare.get(&url).send().await.unwrap(); black_box(r.bytes().await.unwrap()); }))),
        ("bare_timeout", Box::new(|| runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), async { let r = bare.get(&url).send().await.unwrap(); black_box(r.bytes().await.unwrap()); }).await.unwrap() }))),
        ("bare_clone_execute_take", Box::new(|| runtime.block_on(async { let req = bare.get(&url).build().unwrap(); let mut r = bare.execute(req.try_clone().unwrap()).await.unwrap(); let h = std::mem::take(r.headers_mut()); black_box(h); black_box(Vec::from(r.bytes().await.unwrap())); }))),
        ("plain_upstream", Box::new(|| runtime.block_on(async { black_box(plain.get("/ping").send().await.unwrap().into_bytes()); }))),
        
    ];
    { let f = plain.get("/ping").send(); eprintln!("send future {} bytes", std::mem::size_of_val(&f)); let g = bare.get(&url).send(); eprintln!("bare send future {} bytes", std::mem::size_of_val(&g)); let h = bare.get(&url).build().unwrap(); let h = bare.execute(h); eprintln!("execute future {} bytes", std::mem::size_of_val(&h)); }
    if std::env::var("SIZES").is_ok() { return; }
    if let Ok(mode) = std::env::var("MODE") {
        for _ in 0..60000 { if mode == "baretc" { runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), async { let req = bare.get(&url).build().unwrap(); let mut r = bare.execute(req.try_clone().unwrap()).await.unwrap(); let h = std::mem::take(r.headers_mut()); black_box(h); black_box(Vec::from(r.bytes().await.unwrap())); }).await.unwrap() }); } else if mode == "plain" { black_box(runtime.block_on(async { plain.get("/ping").send().await.unwrap().into_bytes() })); } else { bare_call(); } }
        return;
    }
    for _ in 0..2000 { bare_call(); }
    fn cpu() -> f64 { std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse::<f64>().unwrap() }
    if std::env::var("CPU").is_ok() { for (name, f) in &variants {
        for round in 0..2 {
            let c0 = cpu(); let t0 = Instant::now();
            for _ in 0..10000 { bare_call(); }
            let c1 = cpu(); let t1 = Instant::now();
            for _ in 0..10000 { f(); }
            let c2 = cpu(); let t2 = Instant::now();
            eprintln!("{name} r{round}: bare cpu {:.2} µs wall {:.2} µs | variant cpu {:.2} µs wall {:.2} µs", (c1-c0)/1e7*1e3/1e3, (t1-t0).as_secs_f64()*1e2, (c2-c1)/1e7*1e3/1e3, (t2-t1).as_secs_f64()*1e2);
        }
    }
    }
    for (name, f) in &variants {
        let mut d = Vec::new(); let mut b = Vec::new();
        for i in 0..8000 {
            let t0 = Instant::now();
            if i % 2 == 0 { bare_call(); let t1 = Instant::now(); f(); let t2 = Instant::now(); b.push((t1-t0).as_secs_f64()*1e6); d.push(((t2-t1).as_secs_f64()-(t1-t0).as_secs_f64())*1e6); }
            else { f(); let t1 = Instant::now(); bare_call(); let t2 = Instant::now(); b.push((t2-t1).as_secs_f64()*1e6); d.push(((t1-t0).as_secs_f64()-(t2-t1).as_secs_f64())*1e6); }
        }
        eprintln!("{name}: bare {:.1} µs, added {:.2} µs", median(&mut b), median(&mut d));
    }
}
