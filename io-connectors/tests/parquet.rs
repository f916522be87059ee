//! Parquet round trips: typed rows written with small row groups, read back split
//! by row groups on every runner, with projection, and as Arrow batches.

use beam_core::testing::PAssert;
use beam_core::{BoundedSource, Create, Map, Pipeline, PipelineOptions, Sum};
use io_connectors::{ArrowBatch, ParquetIO};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Row {
    id: u64,
    name: String,
    score: f64,
    tag: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Id {
    id: u64,
}

fn rows() -> Vec<Row> {
    (0..5000u64)
        .map(|i| Row {
            id: i,
            name: format!("name-{i}"),
            score: i as f64 / 7.0,
            tag: (i % 3 == 0).then(|| format!("t{}", i % 10)),
        })
        .collect()
}

fn options(runner: &str) -> PipelineOptions {
    let mut o = PipelineOptions::default().with_runner(runner);
    o.parallelism = Some(2);
    o
}

#[test]
fn rows_round_trip_split_by_row_groups_with_projection_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("rows").display().to_string();
    let p = Pipeline::new(options("direct"));
    let written = p
        .apply("Rows", Create::of(rows()))
        .unwrap()
        .apply(
            "Write",
            ParquetIO::write(&prefix)
                .with_num_shards(2)
                .with_suffix(".parquet")
                .with_row_group_rows(300),
        )
        .unwrap();
    PAssert::that(&written)
        .contains_in_any_order(vec![
            format!("{prefix}-00000-of-00002.parquet"),
            format!("{prefix}-00001-of-00002.parquet"),
        ])
        .unwrap();
    p.run().unwrap();
    let pattern = format!("{prefix}-*.parquet");

    // Row groups of 300 rows: a split per few row groups, every row read once.
    let metadata = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(format!("{prefix}-00000-of-00002.parquet")).unwrap(),
    )
    .unwrap()
    .metadata()
    .clone();
    assert!(
        metadata.num_row_groups() >= 8,
        "{}",
        metadata.num_row_groups()
    );
    assert!(metadata.row_groups().iter().all(|rg| rg.num_rows() <= 300));

    for runner in ["direct", "rayon", "timely"] {
        let p = Pipeline::new(options(runner));
        let read = p.apply("Read", ParquetIO::read::<Row>(&pattern)).unwrap();
        PAssert::that(&read).contains_in_any_order(rows()).unwrap();
        let ids = p
            .apply(
                "ReadIds",
                ParquetIO::read::<Id>(&pattern).with_columns(&["id"]),
            )
            .unwrap();
        PAssert::that(&ids)
            .contains_in_any_order((0..5000).map(|id| Id { id }).collect())
            .unwrap();
        let batches = p
            .apply("ReadBatches", ParquetIO::read_batches(&pattern))
            .unwrap();
        let counted = batches
            .apply("Rows", Map::new(|b: &ArrowBatch| b.0.num_rows() as u64))
            .unwrap()
            .apply("Total", Sum::globally())
            .unwrap();
        PAssert::that(&counted)
            .contains_in_any_order(vec![5000])
            .unwrap();
        p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
    }
}

#[test]
fn splits_follow_row_groups_and_cover_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("rg").display().to_string();
    let p = Pipeline::new(options("direct"));
    p.apply("Rows", Create::of(rows()))
        .unwrap()
        .apply(
            "Write",
            ParquetIO::write(&prefix)
                .with_num_shards(1)
                .with_row_group_rows(500),
        )
        .unwrap();
    p.run().unwrap();
    let path = format!("{prefix}-00000-of-00001");
    // Build the source the way the transform does, through the public reader.
    let p = Pipeline::new(options("direct"));
    let read = p.apply("Read", ParquetIO::read::<Row>(&path)).unwrap();
    PAssert::that(&read).contains_in_any_order(rows()).unwrap();
    p.run().unwrap();
    let source = io_connectors::parquet::ParquetSource::<Row>::rows(&path, None).unwrap();
    let total = source.estimated_size_bytes().unwrap();
    for desired in [1, total / 3, total * 2] {
        let splits = source.split(desired).unwrap();
        let mut got = Vec::new();
        for s in &splits {
            let mut r = s.reader().unwrap();
            loop {
                let max = got.len() + 1000;
                if !r.read_batch(&mut got, max).unwrap() {
                    break;
                }
            }
        }
        let mut ids: Vec<u64> = got.iter().map(|wv| wv.value.id).collect();
        ids.sort();
        assert_eq!(
            ids,
            (0..5000).collect::<Vec<_>>(),
            "desired {desired}: {} splits",
            splits.len()
        );
        if desired == 1 {
            assert_eq!(splits.len(), 10, "one split per row group");
        }
    }
}

#[test]
fn a_missing_projected_column_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("x").display().to_string();
    let p = Pipeline::new(options("direct"));
    p.apply("Rows", Create::of(rows()))
        .unwrap()
        .apply("Write", ParquetIO::write(&prefix).with_num_shards(1))
        .unwrap();
    p.run().unwrap();
    let p = Pipeline::new(options("direct"));
    let err = p
        .apply(
            "Read",
            ParquetIO::read::<Id>(&format!("{prefix}-*")).with_columns(&["nope"]),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no column 'nope'"), "{err}");
}
