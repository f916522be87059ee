//! Against a real redis-server, started by `scripts/services.sh` (the README's test
//! command does it) and named by `BEAM_TEST_REDIS_URL`.

use beam_core::testing::PAssert;
use beam_core::{Create, Pipeline, PipelineOptions};
use io_connectors::redis::{RedisIO, RedisMutation};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

fn redis_url() -> String {
    std::env::var("BEAM_TEST_REDIS_URL").expect(
        "BEAM_TEST_REDIS_URL is not set: run the tests with `bash scripts/test.sh`, which installs and starts redis-server",
    )
}

fn conn() -> redis::Connection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap()
}

fn options(runner: &str) -> PipelineOptions {
    let mut o = PipelineOptions::default().with_runner(runner);
    o.parallelism = Some(2);
    o
}

#[test]
fn set_hset_incrby_with_ttl_in_pipelined_batches_on_every_runner() {
    for runner in ["direct", "rayon", "timely"] {
        let ns = format!("beamtest:{}:{runner}", std::process::id());
        let mut mutations = Vec::new();
        for i in 0..3000 {
            mutations.push(RedisMutation::set(format!("{ns}:k{i}"), format!("v{i}")));
            mutations.push(RedisMutation::hset(
                format!("{ns}:h{}", i % 10),
                format!("f{i}"),
                i.to_string(),
            ));
            mutations.push(RedisMutation::incr_by(format!("{ns}:count"), 2));
        }
        mutations.push(RedisMutation::set(format!("{ns}:ttl"), "x").with_ttl_millis(60_000));
        mutations.push(RedisMutation::hset(format!("{ns}:httl"), "f", "x").with_ttl_millis(30_000));
        let n = mutations.len() as i64;
        let p = Pipeline::new(options(runner));
        p.apply("Mutations", Create::of(mutations))
            .unwrap()
            .apply("ToRedis", RedisIO::write(&redis_url()).with_batch_size(100))
            .unwrap();
        let result = p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
        assert_eq!(
            result
                .metrics()
                .counter("ToRedis/WriteRedis", "redis_writes"),
            Some(n),
            "{runner}"
        );

        let mut c = conn();
        for i in [0, 1234, 2999] {
            let v: String = redis::cmd("GET")
                .arg(format!("{ns}:k{i}"))
                .query(&mut c)
                .unwrap();
            assert_eq!(v, format!("v{i}"));
        }
        let count: i64 = redis::cmd("GET")
            .arg(format!("{ns}:count"))
            .query(&mut c)
            .unwrap();
        assert_eq!(count, 6000, "{runner}: every INCRBY applied once");
        let len: i64 = redis::cmd("HLEN")
            .arg(format!("{ns}:h3"))
            .query(&mut c)
            .unwrap();
        assert_eq!(len, 300);
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{ns}:ttl"))
            .query(&mut c)
            .unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{ns}:httl"))
            .query(&mut c)
            .unwrap();
        assert!(ttl > 0 && ttl <= 30_000, "{ttl}");
        let no_ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{ns}:k0"))
            .query(&mut c)
            .unwrap();
        assert_eq!(no_ttl, -1);
    }
}

#[test]
fn lookup_enriches_with_a_per_bundle_cache() {
    let ns = format!("beamtest:{}:lookup", std::process::id());
    let mut c = conn();
    for u in 0..20 {
        let _: () = redis::cmd("SET")
            .arg(format!("{ns}:user{u}"))
            .arg(format!("tier{}", u % 3))
            .query(&mut c)
            .unwrap();
    }
    let events: Vec<u32> = (0..2000).map(|i| i % 25).collect(); // users 20..24 have no profile
    let expected: Vec<(u32, Option<String>)> = events
        .iter()
        .map(|&u| (u, (u < 20).then(|| format!("tier{}", u % 3))))
        .collect();
    let p = Pipeline::new(options("direct"));
    let key_ns = ns.clone();
    let enriched = p
        .apply("Events", Create::of(events))
        .unwrap()
        .apply(
            "Enrich",
            RedisIO::lookup(&redis_url(), move |u: &u32| format!("{key_ns}:user{u}")),
        )
        .unwrap();
    PAssert::that(&enriched)
        .contains_in_any_order(expected)
        .unwrap();
    let result = p.run().unwrap();
    let lookups = result
        .metrics()
        .counter("Enrich/LookupRedis", "redis_lookups")
        .unwrap();
    let hits = result
        .metrics()
        .counter("Enrich/LookupRedis", "redis_cache_hits")
        .unwrap_or(0);
    assert_eq!(lookups + hits, 2000);
    assert!((25..2000).contains(&lookups), "{lookups} lookups");
}

#[test]
fn an_unreachable_server_fails_the_run_naming_it() {
    let p = Pipeline::new(options("direct"));
    p.apply("Mutations", Create::of(vec![RedisMutation::set("k", "v")]))
        .unwrap()
        .apply("ToRedis", RedisIO::write("redis://127.0.0.1:1/"))
        .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(
        err.contains("ToRedis") && err.contains("redis://127.0.0.1:1/"),
        "{err}"
    );
}
