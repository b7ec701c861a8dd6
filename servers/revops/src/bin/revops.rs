//! `revops`: the operator CLI (`db`, `serve`, `demo`). See `revops --help`.

fn main() -> std::process::ExitCode {
    revops::cli::main()
}
