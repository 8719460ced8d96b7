//! A host name in `/etc/hosts` with one address per process, as Docker's DNS names a compose
//! service with one address per replica and drops a replica's address when it dies: what the
//! scale profile's first collector tier resolves to find the second (otel-collector/routing.yaml,
//! the `dns` resolver). The collector's resolver reads `/etc/hosts` first, as every resolver does
//! (`hosts: files dns`), so the tests run compose's resolver, not a static list.
//!
//! Writing `/etc/hosts` needs root, as CI runs. The name is this process's alone, and its lines go
//! when it is dropped.

use std::{fs, net::IpAddr};

const HOSTS: &str = "/etc/hosts";

/// A name in `/etc/hosts`, taken out again on drop.
pub struct HostsName {
    name: String,
}

impl HostsName {
    /// Adds `<service>.e2e-<pid>.test` with one line per address of `addrs`.
    pub fn add(service: &str, addrs: &[IpAddr]) -> Self {
        let name = format!("{service}.e2e-{}.test", std::process::id());
        let mut hosts = read();
        for addr in addrs {
            hosts.push_str(&format!("{addr} {name}\n"));
        }
        write(&hosts);
        Self { name }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes `addr` out of the name, as Docker's DNS does when the container at it dies.
    pub fn remove(&self, addr: IpAddr) {
        self.retain(|line_addr| line_addr != Some(addr));
    }

    /// Keeps the lines of other names, and of this one those whose address `keep` holds.
    fn retain(&self, keep: impl Fn(Option<IpAddr>) -> bool) {
        let kept: String = (read().lines())
            .filter(|line| {
                let mut fields = line.split_whitespace();
                let addr = fields.next().and_then(|a| a.parse().ok());
                fields.next() != Some(self.name.as_str()) || keep(addr)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        write(&kept);
    }
}

impl Drop for HostsName {
    fn drop(&mut self) {
        self.retain(|_| false);
    }
}

fn read() -> String {
    let mut hosts = fs::read_to_string(HOSTS).unwrap_or_else(|e| panic!("reading {HOSTS}: {e}"));
    if !hosts.is_empty() && !hosts.ends_with('\n') {
        hosts.push('\n');
    }
    hosts
}

/// Writes in place (truncating): a container's `/etc/hosts` is a file mounted on its own, which a
/// rename would not replace.
fn write(hosts: &str) {
    fs::write(HOSTS, hosts).unwrap_or_else(|e| {
        panic!(
            "writing {HOSTS}: {e} (the two-tier tests name the second tier there, as compose's DNS \
             does; that needs root, as CI runs)"
        )
    });
}
