//! A network namespace joined to the test's own by a veth pair: a link a test can cut.
//!
//! Needs root (or `CAP_NET_ADMIN`) and the `ip` command. Cutting the link takes the namespace's
//! end down, so packets are silently dropped (no reset, no refusal), as in a real partition.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace with one veth link to the test's namespace. Deleted on drop (which also
/// deletes the veth pair).
pub struct NetworkNamespace {
    name: String,
    /// The veth end inside the namespace.
    inner_link: String,
    /// The test side's end.
    outer_link: String,
    address: String,
}

impl NetworkNamespace {
    /// Creates a namespace and its link, or says why it cannot (not root, no `ip`, no veth).
    pub fn create() -> Result<NetworkNamespace, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // Unique across the test processes running at once: pid and a counter, also in the
        // /30 subnet (10.64.0.0/10 holds 2^20 of them).
        let counter = NEXT.fetch_add(1, Ordering::SeqCst) % 64;
        let id = ((std::process::id() << 6) | counter) % (1 << 20);
        let netns = NetworkNamespace {
            name: format!("lc-test-{id:x}"),
            inner_link: format!("lcn{id:x}"),
            outer_link: format!("lch{id:x}"),
            address: subnet_address(id, 2),
        };
        let outer_address = format!("{}/30", subnet_address(id, 1));
        let inner_address = format!("{}/30", netns.address);
        netns.ip(&["netns", "add", &netns.name])?;
        let steps: [&[&str]; 6] = [
            &[
                "link",
                "add",
                &netns.outer_link,
                "type",
                "veth",
                "peer",
                "name",
                &netns.inner_link,
                "netns",
                &netns.name,
            ],
            &["addr", "add", &outer_address, "dev", &netns.outer_link],
            &["link", "set", &netns.outer_link, "up"],
            &[
                "-n",
                &netns.name,
                "addr",
                "add",
                &inner_address,
                "dev",
                &netns.inner_link,
            ],
            &["-n", &netns.name, "link", "set", &netns.inner_link, "up"],
            &["-n", &netns.name, "link", "set", "lo", "up"],
        ];
        for step in steps {
            // On failure, drop deletes what was made.
            netns.ip(step)?;
        }
        Ok(netns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address inside the namespace, reachable from the test through the link.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Cuts the link: packets both ways are dropped silently.
    pub fn link_down(&self) {
        self.ip(&["-n", &self.name, "link", "set", &self.inner_link, "down"])
            .expect("link down");
    }

    /// Restores the link.
    pub fn link_up(&self) {
        self.ip(&["-n", &self.name, "link", "set", &self.inner_link, "up"])
            .expect("link up");
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `ip`: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`ip {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its veth end and with it the pair.
        let _ = self.ip(&["netns", "del", &self.name]);
        let _ = self.ip(&["link", "del", &self.outer_link]);
    }
}

/// Host `host` (1 or 2) of the `id`th /30 subnet of 10.64.0.0/10.
fn subnet_address(id: u32, host: u32) -> String {
    let n = (10u32 << 24) | (64 << 16) | (id << 2) | host;
    std::net::Ipv4Addr::from(n).to_string()
}
