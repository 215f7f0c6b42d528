//! Placeholder until the reference server lands.
pub struct ServerConfig {
    pub api_key: Option<String>,
}
pub struct RunningServer {
    base_url: String,
}
impl RunningServer {
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}
pub async fn spawn(_c: ServerConfig, _h: &str, _p: u16) -> std::io::Result<RunningServer> {
    Err(std::io::Error::other("not yet"))
}
pub async fn serve_until_ctrl_c(
    _c: ServerConfig,
    _h: &str,
    _p: u16,
    _r: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    Err(std::io::Error::other("not yet"))
}
