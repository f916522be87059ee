//! Helpers shared by the integration tests; each test binary uses part of them.
#![allow(dead_code)]

//! What the tests of timely clusters share.

/// A host file for a two-process cluster on free local ports, and the ports.
pub fn hosts_file(dir: &std::path::Path) -> (std::path::PathBuf, Vec<String>) {
    let listeners: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hosts: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let path = dir.join("hosts.txt");
    std::fs::write(&path, format!("{}\n{}\n", hosts[0], hosts[1])).unwrap();
    (path, hosts)
}

/// A finished process's status and output, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
