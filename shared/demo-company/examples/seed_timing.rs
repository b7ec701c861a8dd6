//! Seeds the demo company into a fresh SQLite file and prints what was written and how
//! long it took: `cargo run --release -p demo-company --example seed_timing -- 10`.
//! A second argument names the database file (default: a new file in a temporary folder).

#![allow(clippy::print_stdout)] // reason: a command-line tool printing for a person.

use std::path::PathBuf;

use store::{DatabaseLocation, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scale: u32 = args.next().as_deref().unwrap_or("1").parse()?;
    let folder = tempfile_folder()?;
    let path = args.next().map_or_else(|| folder.join("revops.db"), PathBuf::from);
    let store = Store::open(&DatabaseLocation::SqliteFile(path.clone())).await?;
    let summary = demo_company::seed(&store, scale).await?;
    store.close().await;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("{}", serde_json::to_string_pretty(&summary)?);
    println!("scale {scale}: {} ms, database file {} MiB ({})", summary.elapsed_ms, size / (1 << 20), path.display());
    Ok(())
}

/// A fresh folder under the system temporary directory, named by the process id.
fn tempfile_folder() -> std::io::Result<PathBuf> {
    let folder = std::env::temp_dir().join(format!("demo-company-timing-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    Ok(folder)
}
