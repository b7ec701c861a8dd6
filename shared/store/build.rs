//! Rebuilds the store when a migration is added or changed: `sqlx::migrate!` embeds the
//! migration folders at compile time.

fn main() {
    // A build script talks to cargo on stdout; this is not a server's stdout.
    println!("cargo:rerun-if-changed=../../migrations");
}
