fn main() -> std::process::ExitCode {
    conformance::cli::main()
}

/// The run allocates and frees on every thread (cases, the client and the embedded server
/// trade buffers); the system allocator's arena locks cost a third of the suite's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
