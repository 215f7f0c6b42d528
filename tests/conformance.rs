//! The bundled suite under `cargo test`, `cargo nextest run` and `cargo insta test`: every case
//! against the embedded reference server, or against `CONFORMANCE_BASE_URL` when it is set.

fn main() -> std::process::ExitCode {
    conformance::cli::test_main()
}

/// The same allocator as the binary (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
