#![allow(clippy::print_stdout)]
use scoring::lead::{LeadModel, LeadSignals};
fn main() {
    let m = LeadModel::default_v1();
    let inds = ["technology", "SaaS", "Healthcare IT", "Underwater basket weaving", "retail", "professional_services"];
    let leads: Vec<(String, u32, LeadSignals)> = (0..100_000u32).map(|i| (inds[(i % 6) as usize].to_string(), i % 3000, LeadSignals { website_visits_30d: i % 40, demo_requested: i % 7 == 0, whitepaper_downloads: i % 5, email_engagement_score: i % 101, linkedin_engagement: i % 9, free_trial_started: i % 11 == 0 })).collect();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut sum = 0u64;
        for (ind, e, s) in &leads { sum += u64::from(std::hint::black_box(m.score_value(ind, *e, s)).0); }
        let el = t.elapsed();
        println!("{sum} {:?} per lead {:?}", el, el / 100_000);
    }
    let t = std::time::Instant::now();
    let mut n = 0usize;
    for (ind, e, s) in leads.iter().take(10_000) { n += m.score(&scoring::lead::LeadProfile{industry: ind.clone(), employee_count:*e, signals:*s}).explanation.len(); }
    println!("score(): {:?} per lead ({n})", t.elapsed() / 10_000);
}
