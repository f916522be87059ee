//! The connections of a cluster of processes, made by the runner itself.
//!
//! timely-dataflow's own start-up connects to the peers' ports and trusts
//! whatever answers: a process that never starts leaves the others printing
//! `awaiting connections` forever, and a stray connection sending a few bytes
//! crashes the waiting process. So the runner connects the processes itself
//! and hands the sockets to timely:
//!
//! - process `i` listens on its own address and connects to every process
//!   `j < i`, retrying until `--cluster-timeout` (60 s by default) runs out;
//! - every connection starts with a handshake: a magic number, the job name,
//!   the number of processes, the connecting process's index and, when one is
//!   given (`--cluster-secret-file FILE` or the `BEAM_CLUSTER_SECRET`
//!   environment variable), the shared secret; the accepting process answers
//!   with its own index. A connection that does not complete the handshake in
//!   a few seconds, or whose job, size, index or secret differ, is refused and
//!   logged on standard error, and the process goes on waiting;
//! - a process still missing at the timeout is an error naming its index and
//!   address.
//!
//! The secret keeps stray and unauthorised processes out; it is sent as is,
//! so it is no protection against someone who can read the network traffic.
//!
//! Once running, a lost peer makes timely's communication threads panic; the
//! runner silences those panics and reports one error naming the process
//! that was lost (see [`PeerLoss`]).

use beam_core::{BeamError, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 8] = b"BEAMRS\x00\x01";
const ACK: &[u8; 8] = b"BEAMRSOK";
/// How long a connection may take to say who it is.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest job name or secret accepted in a handshake.
const MAX_FIELD: u32 = 4096;

/// Who this process is in the cluster, and how to recognise its peers.
#[derive(Clone, Debug)]
pub(crate) struct ClusterSpec {
    pub index: usize,
    pub hosts: Vec<String>,
    pub job: String,
    pub secret: Vec<u8>,
    pub timeout: Duration,
}

fn err(msg: String) -> BeamError {
    BeamError::Runner(msg)
}

fn hello(spec: &ClusterSpec) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.extend_from_slice(&(spec.hosts.len() as u32).to_be_bytes());
    v.extend_from_slice(&(spec.index as u32).to_be_bytes());
    for field in [spec.job.as_bytes(), &spec.secret] {
        v.extend_from_slice(&(field.len() as u32).to_be_bytes());
        v.extend_from_slice(field);
    }
    v
}

fn read_u32(s: &mut TcpStream) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_field(s: &mut TcpStream) -> std::result::Result<Vec<u8>, String> {
    let n = read_u32(s).map_err(|e| e.to_string())?;
    if n > MAX_FIELD {
        return Err(format!("a field of {n} bytes"));
    }
    let mut v = vec![0u8; n as usize];
    s.read_exact(&mut v).map_err(|e| e.to_string())?;
    Ok(v)
}

/// Whether two byte strings are equal, in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a peer's handshake; its process index, or why it is refused.
fn accept_hello(s: &mut TcpStream, spec: &ClusterSpec) -> std::result::Result<usize, String> {
    s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut magic = [0u8; 8];
    s.read_exact(&mut magic)
        .map_err(|e| format!("no handshake ({e})"))?;
    if &magic != MAGIC {
        return Err("not a beam-rs timely process (bad handshake)".into());
    }
    let processes = read_u32(s).map_err(|e| e.to_string())? as usize;
    let index = read_u32(s).map_err(|e| e.to_string())? as usize;
    let job = read_field(s)?;
    let secret = read_field(s)?;
    if job != spec.job.as_bytes() {
        return Err(format!(
            "it runs job {:?}, this process {:?}",
            String::from_utf8_lossy(&job),
            spec.job
        ));
    }
    if processes != spec.hosts.len() {
        return Err(format!(
            "it expects {processes} processes, this one {}",
            spec.hosts.len()
        ));
    }
    if !same_secret(&secret, &spec.secret) {
        return Err("wrong cluster secret".into());
    }
    if index <= spec.index || index >= processes {
        return Err(format!("it says it is process {index}"));
    }
    s.write_all(ACK)
        .and_then(|()| s.write_all(&(spec.index as u32).to_be_bytes()))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok(index)
}

fn connect_to(spec: &ClusterSpec, j: usize, deadline: Instant) -> Result<TcpStream> {
    let addr = &spec.hosts[j];
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| err(format!("process {j}'s address {addr}: {e}")))?
        .collect();
    let mut last = String::from("no address");
    while Instant::now() < deadline {
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(1)) {
                Ok(mut s) => {
                    s.set_nodelay(true).ok();
                    let answer = s
                        .write_all(&hello(spec))
                        .and_then(|()| s.set_read_timeout(Some(HANDSHAKE_TIMEOUT)))
                        .and_then(|()| {
                            let mut ack = [0u8; 12];
                            s.read_exact(&mut ack).map(|()| ack)
                        });
                    match answer {
                        Ok(ack) if &ack[..8] == ACK && ack[8..] == (j as u32).to_be_bytes() => {
                            s.set_read_timeout(None)
                                .map_err(|e| err(format!("process {j} at {addr}: {e}")))?;
                            return Ok(s);
                        }
                        Ok(_) => last = "it answered as another process".into(),
                        Err(e) => {
                            last = format!(
                                "it closed the handshake ({e}): another job, size or secret?"
                            )
                        }
                    }
                }
                Err(e) => last = e.to_string(),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(err(format!(
        "process {j} at {addr} did not join the cluster within {} s (--cluster-timeout): {last}",
        spec.timeout.as_secs()
    )))
}

/// Connects this process to every other: one socket per process, in process
/// order, `None` at this process's own index.
pub(crate) fn connect(spec: &ClusterSpec) -> Result<Vec<Option<TcpStream>>> {
    let deadline = Instant::now() + spec.timeout;
    let me = spec.index;
    let listener = TcpListener::bind(&spec.hosts[me]).map_err(|e| {
        err(format!(
            "cannot listen on {} (this process, {me}): {e}",
            spec.hosts[me]
        ))
    })?;
    let mut sockets: Vec<Option<TcpStream>> = (0..spec.hosts.len()).map(|_| None).collect();
    for (j, socket) in sockets.iter_mut().enumerate().take(me) {
        *socket = Some(connect_to(spec, j, deadline)?);
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| err(format!("{}: {e}", spec.hosts[me])))?;
    let mut missing: Vec<usize> = (me + 1..spec.hosts.len()).collect();
    while !missing.is_empty() {
        match listener.accept() {
            Ok((mut s, peer)) => {
                s.set_nonblocking(false).ok();
                s.set_nodelay(true).ok();
                match accept_hello(&mut s, spec) {
                    Ok(j) if missing.contains(&j) => {
                        missing.retain(|&m| m != j);
                        sockets[j] = Some(s);
                    }
                    Ok(j) => tracing::warn!(
                        process = spec.index,
                        "timely cluster: refused a second connection as process {j} from {peer}"
                    ),
                    Err(why) => tracing::warn!(
                        process = spec.index,
                        "timely cluster: refused a connection from {peer}: {why}"
                    ),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    let names: Vec<String> = missing
                        .iter()
                        .map(|&j| format!("process {j} at {}", spec.hosts[j]))
                        .collect();
                    return Err(err(format!(
                        "{} did not join the cluster within {} s (--cluster-timeout)",
                        names.join(", "),
                        spec.timeout.as_secs()
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(err(format!("{}: {e}", spec.hosts[me]))),
        }
    }
    Ok(sockets)
}

/// While a cluster runs: panics of timely's communication threads are
/// silenced and the first lost peer recorded, so that the run ends with one
/// error naming it instead of a cascade of panics.
pub(crate) struct PeerLoss;

static QUIET: AtomicBool = AtomicBool::new(false);
static LOST: Mutex<Option<usize>> = Mutex::new(None);
static HOOK: Once = Once::new();

impl PeerLoss {
    /// Starts watching (once per process; the hook stays, inactive, after).
    pub(crate) fn watch() -> PeerLoss {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if QUIET.load(Ordering::SeqCst) {
                    let thread = std::thread::current();
                    let name = thread.name().unwrap_or("");
                    let peer = name
                        .strip_prefix("timely:send-")
                        .or_else(|| name.strip_prefix("timely:recv-"))
                        .and_then(|i| i.parse::<usize>().ok());
                    let mut lost = LOST.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(peer) = peer {
                        lost.get_or_insert(peer);
                        return;
                    }
                    if lost.is_some() {
                        // What follows from the loss: poisoned queues, joins.
                        return;
                    }
                }
                previous(info)
            }));
        });
        *LOST.lock().unwrap_or_else(|p| p.into_inner()) = None;
        QUIET.store(true, Ordering::SeqCst);
        PeerLoss
    }

    /// The peer lost so far, if any.
    pub(crate) fn lost(&self) -> Option<usize> {
        *LOST.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PeerLoss {
    fn drop(&mut self) {
        QUIET.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(index: usize, hosts: &[String], secret: &str) -> ClusterSpec {
        ClusterSpec {
            index,
            hosts: hosts.to_vec(),
            job: "job".into(),
            secret: secret.as_bytes().to_vec(),
            timeout: Duration::from_secs(3),
        }
    }

    fn free_hosts(n: usize) -> Vec<String> {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect()
    }

    #[test]
    fn garbage_and_wrong_secrets_are_refused_and_the_cluster_still_forms() {
        let hosts = free_hosts(2);
        let h = hosts.clone();
        let first = std::thread::spawn(move || connect(&spec(0, &h, "s3cret")));
        // A stray connection sending random bytes, one with the wrong secret.
        std::thread::sleep(Duration::from_millis(200));
        let mut stray = TcpStream::connect(&hosts[0]).unwrap();
        stray
            .write_all(&[0xde, 0xad, 0xbe, 0xef].repeat(16))
            .unwrap();
        assert!(connect(&ClusterSpec {
            timeout: Duration::from_millis(800),
            ..spec(1, &hosts, "wrong")
        })
        .is_err());
        let second = connect(&spec(1, &hosts, "s3cret")).unwrap();
        assert!(second[0].is_some() && second[1].is_none());
        let first = first.join().unwrap().unwrap();
        assert!(first[0].is_none() && first[1].is_some());
    }

    #[test]
    fn a_missing_process_is_named_after_the_timeout() {
        let hosts = free_hosts(3);
        let e = connect(&ClusterSpec {
            timeout: Duration::from_millis(500),
            ..spec(0, &hosts, "")
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!("process 1 at {}", hosts[1]))
                && e.contains(&format!("process 2 at {}", hosts[2])),
            "{e}"
        );
        let e = connect(&ClusterSpec {
            timeout: Duration::from_millis(500),
            ..spec(2, &hosts, "")
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("process 0 at {}", hosts[0])), "{e}");
    }
}
