//! Event time and windows for rows: [`Table::window`] takes each row's event
//! time from a timestamp expression and assigns the row to windows, and
//! [`Table::with_window_bounds`] adds the start and end of each row's window
//! as columns. With them, aggregates and joins after a window are per window,
//! as Beam SQL's `TUMBLE`, `HOP` and `SESSION` groupings.
//!
//! A batch is one element with one timestamp, so the rows of a batch are
//! split into batches whose rows fall in the same windows: for fixed and
//! sliding windows the rows of one interval of the greatest common divisor of
//! size and period (every window boundary is a multiple of it), for sessions,
//! user window functions and the global window the rows of one timestamp. Each part is emitted
//! at its earliest row's time, so window assignment, lateness and merging see
//! exactly what they would see for single rows.

use crate::eval::CompiledExpr;
use crate::expr::Expr;
use crate::rows::Rows;
use crate::table::{check_schema, check_unique_names, compile, Table};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use beam_core::{
    BeamError, DoFn, Duration, PCollection, PTransform, ParDo, ProcessContext, Result, Timestamp,
    UserError, UserResult, Window, WindowFn, WindowInto,
};
use std::sync::Arc;

/// The type of window bound columns: microseconds, no time zone.
pub(crate) const BOUND_TYPE: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

impl Table {
    /// Sets each row's event time to `time` (an expression of a timestamp or
    /// date type; a null time fails the pipeline, naming the row) and assigns
    /// the rows to windows of `window_fn`. Aggregates and joins downstream are
    /// then per window; add the windows' bounds as columns with
    /// [`Table::with_window_bounds`].
    ///
    /// Event times may be earlier than the input's element timestamps (rows
    /// read from a file or a topic carry the read time or none); whether a
    /// row is late is then decided against the input's watermark, as for any
    /// element.
    ///
    /// ```
    /// use beam_core::{Create, Duration, Pipeline, WindowFn};
    /// use beam_sql::{col, count_star, Table};
    ///
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    /// struct Click { user: String, at: String }
    ///
    /// let p = Pipeline::new(Default::default());
    /// let clicks = p.apply("Create", Create::of(vec![
    ///     Click { user: "ann".into(), at: "2026-03-01T10:15:00".into() },
    /// ]))?;
    /// let per_hour = Table::from_elements("ToRows", &clicks)?
    ///     .window("Hourly", col("at").cast(beam_sql::bound_type()), WindowFn::fixed(Duration::from_hours(1)))?
    ///     .group_by(vec![col("user")])
    ///     .aggregate("Count", vec![count_star().alias("clicks")])?
    ///     .with_window_bounds("Bounds", "window_start", "window_end")?;
    /// assert_eq!(per_hour.schema().field(2).name(), "window_start");
    /// # Ok::<(), beam_core::BeamError>(())
    /// ```
    pub fn window(&self, name: &str, time: Expr, window_fn: WindowFn) -> Result<Table> {
        let (time_text, time) = self.event_time(name, time)?;
        window_fn
            .validate()
            .map_err(|m| BeamError::construction(name, m))?;
        let split = match &window_fn {
            WindowFn::Fixed { size, offset } => Split::Interval {
                width: size.as_micros(),
                offset: offset.as_micros(),
            },
            WindowFn::Sliding {
                size,
                period,
                offset,
            } => Split::Interval {
                width: gcd(size.as_micros(), period.as_micros()),
                offset: offset.as_micros(),
            },
            // In the global window (which a later WindowInto may change), in
            // sessions and in user windows each row keeps its own time.
            WindowFn::Global | WindowFn::Sessions { .. } | WindowFn::Custom(_) => Split::Timestamp,
            WindowFn::InvalidWindows(_) => {
                return Err(BeamError::construction(
                    name,
                    "rows cannot be assigned to these windows",
                ))
            }
        };
        self.apply(
            name,
            WindowRows {
                time: EventTime {
                    input: self.schema().clone(),
                    text: time_text,
                    time,
                    split,
                },
                window_fn,
            },
        )
    }

    /// Sets each row's event time to `time` (a timestamp or date expression)
    /// and keeps the windows: the rows of a batch are split by time, so a
    /// windowing applied later assigns each row by its own time.
    pub fn with_event_time(&self, name: &str, time: Expr) -> Result<Table> {
        let time = self.event_time(name, time)?;
        let rows = self.rows().apply(
            name,
            ParDo::of(EventTime {
                input: self.schema().clone(),
                text: time.0,
                time: time.1,
                split: Split::Timestamp,
            }),
        )?;
        Ok(Table::new(rows, self.schema().clone()))
    }

    fn event_time(&self, name: &str, time: Expr) -> Result<(String, CompiledExpr)> {
        let compiled = compile(name, &time, self.schema())?;
        let from = compiled.data_type().clone();
        if !matches!(
            from,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        ) {
            return Err(BeamError::construction(
                name,
                format!("the event time `{time}` must be a timestamp or a date, not {from}"),
            ));
        }
        let compiled = crate::eval::cast(compiled, &BOUND_TYPE)
            .map_err(|m| BeamError::construction(name, m))?;
        Ok((time.to_string(), compiled))
    }

    /// Adds the start and end of each row's window as the columns `start` and
    /// `end` (timestamps in microseconds; the end is exclusive). Fails at
    /// construction in the global window, which has no bounds.
    pub fn with_window_bounds(&self, name: &str, start: &str, end: &str) -> Result<Table> {
        if self.rows().windowing().window_fn == WindowFn::Global {
            return Err(BeamError::construction(
                name,
                "the rows are in the global window, which has no start or end: window them first",
            ));
        }
        let mut fields: Vec<Field> = self
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(start, BOUND_TYPE, false));
        fields.push(Field::new(end, BOUND_TYPE, false));
        let output = Arc::new(Schema::new(fields));
        check_unique_names(name, &output)?;
        let rows = self.rows().apply(
            name,
            ParDo::of(WindowBounds {
                input: self.schema().clone(),
                output: output.clone(),
            }),
        )?;
        Ok(Table::new(rows, output))
    }
}

/// The type of the window bound columns, for casting text to event times.
pub fn bound_type() -> DataType {
    BOUND_TYPE
}

/// The event-time step, then `WindowInto`.
struct WindowRows {
    time: EventTime,
    window_fn: WindowFn,
}

impl PTransform<Table> for WindowRows {
    type Output = Table;
    fn expand(self, input: &Table) -> Result<Table> {
        let timed = input.rows().apply("EventTime", ParDo::of(self.time))?;
        let windowed: PCollection<Rows> =
            timed.apply("WindowInto", WindowInto::new(self.window_fn))?;
        Ok(Table::new(windowed, input.schema().clone()))
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Which rows of a batch share their windows.
#[derive(Clone, Copy)]
enum Split {
    /// The rows of one interval `[offset + k * width, offset + (k + 1) * width)`.
    Interval { width: i64, offset: i64 },
    /// The rows of one timestamp.
    Timestamp,
}

impl Split {
    fn part(self, t: i64) -> i64 {
        match self {
            Split::Interval { width, offset } => t.saturating_sub(offset).div_euclid(width),
            Split::Timestamp => t,
        }
    }
}

#[derive(Clone)]
struct EventTime {
    input: SchemaRef,
    text: String,
    time: CompiledExpr,
    split: Split,
}

impl EventTime {
    fn emit(&self, batch: RecordBatch, at: i64, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        ctx.output_with_timestamp(Rows::new(batch), Timestamp::from_micros(at))
            .map_err(|e| UserError::msg(format!("event time {}: {e}", show(at))))
    }
}

fn show(micros: i64) -> String {
    arrow::temporal_conversions::timestamp_us_to_datetime(micros)
        .map(|t| t.to_string())
        .unwrap_or_else(|| format!("{micros} us"))
}

impl DoFn for EventTime {
    type In = Rows;
    type Out = Rows;

    fn allowed_timestamp_skew(&self) -> Duration {
        Duration::MAX
    }

    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let batch = rows.batch();
        check_schema(batch, &self.input)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let times = self.time.evaluate(batch).map_err(UserError::msg)?;
        let times = times.as_primitive::<TimestampMicrosecondType>();
        if let Some(row) = (0..times.len()).find(|&i| times.is_null(i)) {
            return Err(UserError::msg(format!(
                "row {row} of the batch has no event time: `{}` is null",
                self.text
            )));
        }
        let values = times.values();
        let (low, high) = (
            Timestamp::MIN.as_micros(),
            beam_core::GLOBAL_WINDOW_MAX.as_micros(),
        );
        if let Some(row) = values.iter().position(|t| !(low..high).contains(t)) {
            return Err(UserError::msg(format!(
                "row {row} of the batch has the event time {}, outside the range of event time",
                show(values[row])
            )));
        }
        let first = self.split.part(values[0]);
        if values.iter().all(|&t| self.split.part(t) == first) {
            let at = values.iter().copied().min().unwrap_or(values[0]);
            return self.emit(batch.clone(), at, ctx);
        }
        let mut order: Vec<(i64, u32)> = values
            .iter()
            .enumerate()
            .map(|(i, &t)| (self.split.part(t), i as u32))
            .collect();
        order.sort_unstable();
        let mut start = 0;
        while start < order.len() {
            let part = order[start].0;
            let end = start + order[start..].partition_point(|(p, _)| *p == part);
            let indices = UInt32Array::from_iter_values(order[start..end].iter().map(|(_, i)| *i));
            let at = order[start..end]
                .iter()
                .map(|(_, i)| values[*i as usize])
                .min()
                .unwrap_or(values[order[start].1 as usize]);
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|c| arrow::compute::take(c, &indices, None))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| UserError::msg(e.to_string()))?;
            let part_batch = RecordBatch::try_new(batch.schema(), columns)
                .map_err(|e| UserError::msg(e.to_string()))?;
            self.emit(part_batch, at, ctx)?;
            start = end;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct WindowBounds {
    input: SchemaRef,
    output: SchemaRef,
}

impl DoFn for WindowBounds {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let batch = rows.batch();
        check_schema(batch, &self.input)?;
        let Window::Interval(w) = *ctx.window() else {
            return Err(UserError::msg(
                "rows in the global window have no window start or end",
            ));
        };
        let n = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        for t in [w.start, w.end] {
            columns.push(Arc::new(TimestampMicrosecondArray::from_value(
                t.as_micros(),
                n,
            )));
        }
        let out = RecordBatch::try_new(self.output.clone(), columns)
            .map_err(|e| UserError::msg(e.to_string()))?;
        ctx.output(Rows::new(out));
        Ok(())
    }
}
