//! The page's nginx (`web/nginx.conf`, the public edge), run by a real nginx (Debian's, installed
//! by `scripts/test.sh`) as the page image runs it: the template filled in with the image's own
//! defaults (`web/Dockerfile`'s `ENV` lines), on a free port, with its upstreams at given addresses.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::process::Command;

use crate::process::{Process, free_port, wait_for_port};

/// The security headers the page is served with, as `web/nginx.conf` writes them (the CSP with its
/// template variable): the one list the static checks of the config and the tests against a real
/// nginx both hold it to.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self'; connect-src ${CSP_CONNECT_SRC}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

/// A running nginx with the page's config.
pub struct Nginx {
    pub addr: SocketAddr,
    process: Process,
    dir: tempfile::TempDir,
}

fn workspace_file(path: &str) -> String {
    let path = crate::workspace().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The template's variables as the image sets them: each `ENV NAME=value` of `web/Dockerfile`.
pub fn image_defaults() -> Vec<(String, String)> {
    workspace_file("web/Dockerfile")
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

/// The image's default for the template variable `name`.
pub fn image_default(name: &str) -> String {
    image_defaults()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("web/Dockerfile has no ENV {name}"))
        .1
}

/// `web/nginx.conf` as the image's `envsubst` writes it: each `${NAME}` that is set replaced, from
/// `overrides` first and the image's defaults otherwise. Like `envsubst`, a name set nowhere is left
/// as it is, for nginx to refuse as an unknown variable.
pub fn render(overrides: &[(&str, String)]) -> String {
    let template = workspace_file("web/nginx.conf");
    let defaults = image_defaults();
    let value_of = |name: &str| {
        overrides
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                defaults
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
    };
    let mut site = String::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').expect("a closing brace");
        site.push_str(&rest[..start]);
        match value_of(&rest[start + 2..end]) {
            Some(value) => site.push_str(&value),
            None => site.push_str(&rest[start..=end]),
        }
        rest = &rest[end + 1..];
    }
    site.push_str(rest);
    site
}

impl Nginx {
    /// Serves `root` with the page's config, its template filled in from `overrides` (such as
    /// `API_UPSTREAM` and `OTLP_UPSTREAM`, `host:port`) and the image's defaults. Every request is
    /// logged (status, method, path, size) to its access log.
    pub async fn start(root: &Path, overrides: &[(&str, String)]) -> Self {
        let binary = std::env::var("NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
        assert!(
            Path::new(&binary).exists(),
            "{binary} is missing: scripts/test.sh installs nginx-light"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port().await;
        let site = render(overrides)
            .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
            .replace(
                "root /usr/share/nginx/html;",
                &format!("root {};", root.display()),
            );
        // The `http` block the image's own nginx.conf puts the site in.
        let conf = format!(
            "daemon off;\nuser root;\npid {dir}/nginx.pid;\nerror_log stderr warn;\nevents {{}}\n\
             http {{\ninclude /etc/nginx/mime.types;\n\
             log_format edge '$status $request_method $uri $request_length';\n\
             access_log {dir}/access.log edge;\n{site}\n}}\n",
            dir = dir.path().display()
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("conf");
        let mut command = Command::new(binary);
        command.arg("-c").arg(&path).arg("-p").arg(dir.path());
        let process = Process::spawn("nginx", command);
        wait_for_port(
            "nginx",
            ([127, 0, 0, 1], port).into(),
            Duration::from_secs(10),
        )
        .await;
        Self {
            addr: ([127, 0, 0, 1], port).into(),
            process,
            dir,
        }
    }

    /// The statuses nginx answered `method path` with, in order.
    pub fn statuses(&self, method: &str, path: &str) -> Vec<u16> {
        self.requests(method, path)
            .into_iter()
            .map(|(status, _)| status)
            .collect()
    }

    /// The requests `method path` nginx answered, in order: the status, and the request's size in
    /// bytes (line, headers and body).
    pub fn requests(&self, method: &str, path: &str) -> Vec<(u16, usize)> {
        let log = std::fs::read_to_string(self.access_log()).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let status = fields.next()?.parse().ok()?;
                let matches = fields.next()? == method && fields.next()? == path;
                let bytes = fields.next()?.parse().ok()?;
                matches.then_some((status, bytes))
            })
            .collect()
    }

    /// What nginx logged on stderr (its error log: rate-limit refusals among them).
    pub fn errors(&self) -> Vec<String> {
        self.process.output()
    }

    fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    pub async fn stop(&mut self) {
        self.process.stop().await;
    }
}
