//! A socket text stream on the timely and direct runners: a windowed word count over lines
//! served by a local TCP server, ending when the server closes.

use beam_core::testing::PAssert;
use beam_core::{Count, Duration, FlatMap, Pipeline, PipelineOptions, WindowFn, WindowInto};
use io_connectors::socket::SocketTextIO;
use runner_direct as _;
use runner_timely as _;
use std::io::Write;

#[test]
fn windowed_word_count_over_a_socket_stream() {
    for runner in ["timely", "direct"] {
        word_count_on(runner);
    }
}

fn word_count_on(runner: &str) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        for i in 0..200 {
            writeln!(conn, "to be or not to be {}", i % 2).unwrap();
        }
    });
    let mut options = PipelineOptions::default().with_runner(runner);
    options.parallelism = Some(2);
    let p = Pipeline::new(options);
    let counts = p
        .apply("Lines", SocketTextIO::read(&addr))
        .unwrap()
        .apply(
            "Words",
            FlatMap::new(|l: &String| l.split(' ').map(String::from).collect::<Vec<_>>()),
        )
        .unwrap()
        .apply(
            "Hour",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(3600))),
        )
        .unwrap()
        .apply("Count", Count::per_element())
        .unwrap();
    // Sum over the windows (the stream may straddle an hour boundary).
    PAssert::that(&counts)
        .satisfies(|counts: &[(String, u64)]| {
            let mut total = std::collections::BTreeMap::new();
            for (w, n) in counts {
                *total.entry(w.as_str()).or_insert(0) += n;
            }
            let want = [
                ("0", 100),
                ("1", 100),
                ("be", 400),
                ("not", 200),
                ("or", 200),
                ("to", 400),
            ];
            assert_eq!(total.into_iter().collect::<Vec<_>>(), want);
        })
        .unwrap();
    p.run().unwrap();
    server.join().unwrap();
}

#[test]
fn a_line_longer_than_the_limit_fails_the_run_naming_the_address() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        writeln!(conn, "short").unwrap();
        let _ = conn.write_all(&vec![b'x'; 200_000]);
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    let p = Pipeline::new(PipelineOptions::default().with_runner("timely"));
    p.apply(
        "Lines",
        SocketTextIO::read(&addr).with_max_record_bytes(1000),
    )
    .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(
        err.contains(&addr) && err.contains("longer than 1000 bytes"),
        "{err}"
    );
    server.join().unwrap();
}
