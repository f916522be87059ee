"""Word count in Polars, for comparison with the rayon runner's wordcount.

Same tokenization as `examples::words`: maximal runs of Unicode letters
(`\\p{L}+`), each lowercased; writes `word: count` lines sorted by word, and
prints the wall time and counts. Run through `scripts/bench_polars.sh`.
"""

import sys
import time

import polars as pl


def main() -> None:
    corpus, output = sys.argv[1], sys.argv[2]
    start = time.perf_counter()
    counts = (
        pl.scan_csv(
            corpus,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            new_columns=["line"],
            schema_overrides={"line": pl.String},
        )
        .select(pl.col("line").str.extract_all(r"\p{L}+").alias("word"))
        .explode("word")
        .drop_nulls()
        .select(pl.col("word").str.to_lowercase())
        .group_by("word")
        .len()
        .collect()
    )
    counted = time.perf_counter() - start
    with open(output, "w", encoding="utf-8") as out:
        for word, n in counts.sort("word").iter_rows():
            out.write(f"{word}: {n}\n")
    total = time.perf_counter() - start
    words = counts["len"].sum()
    print(
        f"polars {pl.__version__}: {total:.2f} s ({counted:.2f} s to count), "
        f"{words} words, {counts.height} distinct, {words / total / 1e6:.2f} M words/s"
    )


if __name__ == "__main__":
    main()
