fn main() -> std::process::ExitCode {
    conformance::cli::main()
}
