//! Seeds the demo company into a fresh SQLite file and prints what was written and how
//! long it took:
//! `cargo run --release -p demo-company --example seed_timing -- 10`.
//! A second argument names the database file to keep (by default the file goes in a
//! temporary folder that is removed afterwards).

#![allow(clippy::print_stdout)] // reason: a command-line tool printing for a person.

use std::path::PathBuf;

use store::{DatabaseLocation, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scale: u32 = args.next().as_deref().unwrap_or("1").parse()?;
    let kept = args.next().map(PathBuf::from);
    let folder = std::env::temp_dir().join(format!("demo-company-timing-{}", std::process::id()));
    let path = match &kept {
        Some(path) => path.clone(),
        None => {
            std::fs::create_dir_all(&folder)?;
            folder.join("revops.db")
        }
    };
    let store = Store::open(&DatabaseLocation::SqliteFile(path.clone())).await?;
    let summary = demo_company::seed(&store, scale).await?;
    store.close().await;
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|metadata| metadata.len())
        .sum();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    println!(
        "scale {scale}: {:.1} s, {} leads, database {} MiB",
        summary.elapsed_ms as f64 / 1000.0,
        summary.rows.leads,
        size >> 20
    );
    if kept.is_none() {
        std::fs::remove_dir_all(&folder)?;
    }
    Ok(())
}
