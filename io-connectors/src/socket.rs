//! A TCP socket text source for demos, like Flink's `socketTextStream`: connects
//! to `host:port` and emits each line (`\n` or `\r\n`) as it arrives, stamped with
//! the wall-clock time it was read; the watermark is the wall clock
//! (processing-time watermarks). The stream ends when the peer closes the
//! connection. Try it with `nc -lk 9999` and a windowed word count.
//!
//! ```no_run
//! # use runner_timely as _;
//! use beam_core::{Pipeline, PipelineOptions};
//! use io_connectors::socket::SocketTextIO;
//! let p = Pipeline::new(PipelineOptions::default().with_runner("timely"));
//! let lines = p.apply("Lines", SocketTextIO::read("127.0.0.1:9999")).unwrap();
//! ```

use beam_core::unbounded::Poll;
use beam_core::{
    BeamError, PBegin, PCollection, PTransform, ReadUnbounded, Result, Timestamp, UnboundedReader,
    UnboundedSource, WindowedValue,
};
use std::io::{ErrorKind, Read};
use std::net::TcpStream;

/// Entry point: [`SocketTextIO::read`].
pub struct SocketTextIO;

impl SocketTextIO {
    /// Reads lines from the TCP server at `address` (`host:port`).
    pub fn read(address: &str) -> ReadSocketText {
        ReadSocketText {
            address: address.to_string(),
            max_record_bytes: crate::file_read::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Reads a socket's lines; see [`SocketTextIO::read`].
pub struct ReadSocketText {
    address: String,
    max_record_bytes: u64,
}

impl ReadSocketText {
    /// The longest line read (default 64 MiB): a longer one fails the run,
    /// naming the address, before it is held in memory.
    pub fn with_max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }
}

impl PTransform<PBegin> for ReadSocketText {
    type Output = PCollection<String>;
    fn expand(self, input: &PBegin) -> Result<PCollection<String>> {
        input.pipeline().apply(
            "ReadSocket",
            ReadUnbounded::from(SocketTextSource {
                address: self.address,
                max_record_bytes: self.max_record_bytes,
            }),
        )
    }
}

/// The unbounded source of a socket's lines (one reader: a socket is one stream).
#[derive(Clone, Debug)]
pub struct SocketTextSource {
    address: String,
    max_record_bytes: u64,
}

impl UnboundedSource for SocketTextSource {
    type Output = String;
    fn split(&self, _desired: usize) -> Result<Vec<Self>> {
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<String>>> {
        let stream =
            TcpStream::connect(&self.address).map_err(|e| BeamError::io(&self.address, e))?;
        stream
            .set_nonblocking(true)
            .map_err(|e| BeamError::io(&self.address, e))?;
        Ok(Box::new(SocketReader {
            stream,
            address: self.address.clone(),
            pending: Vec::new(),
            scanned: 0,
            max_record_bytes: self.max_record_bytes,
            closed: false,
        }))
    }
    fn describe(&self) -> String {
        format!("socket {}", self.address)
    }
}

struct SocketReader {
    stream: TcpStream,
    address: String,
    /// Bytes of a line not yet complete.
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no line break.
    scanned: usize,
    max_record_bytes: u64,
    closed: bool,
}

impl SocketReader {
    fn emit(&mut self, line_end: usize, out: &mut Vec<WindowedValue<String>>) -> Result<()> {
        self.scanned = 0;
        let mut line: Vec<u8> = self.pending.drain(..line_end).collect();
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let text = String::from_utf8(line).map_err(|e| {
            BeamError::io(
                &self.address,
                std::io::Error::new(ErrorKind::InvalidData, format!("invalid UTF-8 line: {e}")),
            )
        })?;
        out.push(WindowedValue::timestamped(text, Timestamp::wall_clock()));
        Ok(())
    }
}

impl UnboundedReader<String> for SocketReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<String>>, max: usize) -> Result<Poll> {
        let start = out.len();
        let mut buf = [0u8; 64 * 1024];
        loop {
            while out.len() - start < max {
                match memchr::memchr(b'\n', &self.pending[self.scanned..]) {
                    Some(i) => {
                        let end = self.scanned + i + 1;
                        self.emit(end, out)?
                    }
                    None => {
                        self.scanned = self.pending.len();
                        break;
                    }
                }
            }
            let incomplete = self.scanned == self.pending.len();
            if incomplete && self.pending.len() as u64 > self.max_record_bytes.saturating_add(1) {
                return Err(BeamError::io(
                    &self.address,
                    std::io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "a line longer than {} bytes (with_max_record_bytes)",
                            self.max_record_bytes
                        ),
                    ),
                ));
            }
            if out.len() - start >= max {
                return Ok(Poll::Ready);
            }
            if self.closed {
                if !self.pending.is_empty() {
                    let n = self.pending.len();
                    self.emit(n, out)?;
                }
                return Ok(Poll::Finished);
            }
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok(Poll::Pending(std::time::Duration::from_millis(10)));
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(BeamError::io(&self.address, e)),
            }
        }
    }
    fn watermark(&self) -> Timestamp {
        if self.closed && self.pending.is_empty() {
            return Timestamp::MAX;
        }
        // Processing-time watermark: lines are stamped when read, so none read
        // later can be earlier than now.
        Timestamp::wall_clock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_lines_as_they_arrive_until_the_peer_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(b"hello world\r\nsec").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            conn.write_all(b"ond line\nlast without newline").unwrap();
        });
        let source = SocketTextSource {
            address: addr,
            max_record_bytes: crate::file_read::DEFAULT_MAX_RECORD_BYTES,
        };
        let mut reader = source.reader().unwrap();
        let before = Timestamp::wall_clock();
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while reader.poll(&mut out, 100).unwrap() != Poll::Finished {
            assert!(std::time::Instant::now() < deadline);
            assert!(reader.watermark() >= before);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        server.join().unwrap();
        let lines: Vec<&str> = out.iter().map(|wv| wv.value.as_str()).collect();
        assert_eq!(
            lines,
            ["hello world", "second line", "last without newline"]
        );
        assert!(out.iter().all(|wv| wv.timestamp >= before));
        assert_eq!(reader.watermark(), Timestamp::MAX);
    }

    #[test]
    fn a_refused_connection_names_the_address() {
        let source = SocketTextSource {
            address: "127.0.0.1:1".into(),
            max_record_bytes: crate::file_read::DEFAULT_MAX_RECORD_BYTES,
        };
        let err = source.reader().err().unwrap().to_string();
        assert!(err.contains("127.0.0.1:1"), "{err}");
    }
}
