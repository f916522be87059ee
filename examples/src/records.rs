//! Records of the bundled sample data sets, parsed from CSV lines.

use beam_core::{Duration, Timestamp, UserError, UserResult};
use serde::{Deserialize, Serialize};

/// A clickstream event: `user_id,timestamp,action` (timestamp in epoch seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Who.
    pub user: String,
    /// When.
    pub timestamp: Timestamp,
    /// What.
    pub action: String,
}

/// A payment: `txn_id,user_id,amount,timestamp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Transaction id.
    pub id: String,
    /// Who paid.
    pub user: String,
    /// How much.
    pub amount: f64,
    /// When.
    pub timestamp: Timestamp,
}

fn fields<'a>(line: &'a str, n: usize, what: &str) -> UserResult<Vec<&'a str>> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != n {
        return Err(UserError::msg(format!(
            "a {what} line needs {n} fields, found {}",
            f.len()
        )));
    }
    Ok(f)
}

fn seconds(s: &str) -> UserResult<Timestamp> {
    Ok(Timestamp::from_secs(s.parse::<i64>().map_err(|e| {
        UserError::msg(format!("timestamp '{s}': {e}"))
    })?))
}

impl Event {
    /// Parses a line; `None` for the header.
    pub fn parse(line: &str) -> UserResult<Option<Event>> {
        if line.starts_with("user_id,") || line.trim().is_empty() {
            return Ok(None);
        }
        let f = fields(line, 3, "event")?;
        Ok(Some(Event {
            user: f[0].to_string(),
            timestamp: seconds(f[1])?,
            action: f[2].to_string(),
        }))
    }
}

impl Transaction {
    /// Parses a line; `None` for the header.
    pub fn parse(line: &str) -> UserResult<Option<Transaction>> {
        if line.starts_with("txn_id,") || line.trim().is_empty() {
            return Ok(None);
        }
        let f = fields(line, 4, "transaction")?;
        Ok(Some(Transaction {
            id: f[0].to_string(),
            user: f[1].to_string(),
            amount: f[2]
                .parse::<f64>()
                .map_err(|e| UserError::msg(format!("amount '{}': {e}", f[2])))
                .and_then(|a| {
                    if a.is_finite() {
                        Ok(a)
                    } else {
                        Err(UserError::msg(format!(
                            "amount '{}' is not a finite number",
                            f[2]
                        )))
                    }
                })?,
            timestamp: seconds(f[3])?,
        }))
    }
}

/// `2025-11-24 16:00:00` for a timestamp (UTC, to the second).
pub fn utc(t: Timestamp) -> String {
    let secs = t.as_micros().div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Minutes as a duration.
pub fn minutes(m: i64) -> Duration {
    Duration::from_mins(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let e = Event::parse("user01,1764000124,click").unwrap().unwrap();
        assert_eq!(e.timestamp, Timestamp::from_secs(1_764_000_124));
        assert!(Event::parse("user_id,timestamp,action").unwrap().is_none());
        assert!(Event::parse("user01,notanumber,click")
            .unwrap_err()
            .to_string()
            .contains("notanumber"));
        assert!(Transaction::parse("t1,u,12.5").is_err());
        for bad in ["inf", "NaN", "1e3000", "-inf"] {
            let line = format!("t1,u,{bad},1764000000");
            let err = Transaction::parse(&line).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        assert_eq!(
            utc(Timestamp::from_secs(1_764_000_000)),
            "2025-11-24 16:00:00"
        );
        assert_eq!(utc(Timestamp::EPOCH), "1970-01-01 00:00:00");
    }
}

/// Parses event lines into events at their own timestamps.
#[derive(Clone)]
pub struct ParseEvents;

impl beam_core::DoFn for ParseEvents {
    type In = String;
    type Out = Event;
    fn process(
        &mut self,
        line: &String,
        ctx: &mut beam_core::ProcessContext<'_, Event>,
    ) -> UserResult {
        if let Some(e) = Event::parse(line)? {
            let t = e.timestamp;
            ctx.output_with_timestamp(e, t)?;
        }
        Ok(())
    }
}

/// A Kafka record's value (a transaction line) as a payment, at the
/// record's time (its producer sets it to the payment's time).
#[derive(Clone)]
pub struct ParsePaymentRecords;

impl beam_core::DoFn for ParsePaymentRecords {
    type In = io_connectors::kafka::KafkaRecord;
    type Out = Transaction;
    fn process(
        &mut self,
        r: &io_connectors::kafka::KafkaRecord,
        ctx: &mut beam_core::ProcessContext<'_, Transaction>,
    ) -> UserResult {
        let line = std::str::from_utf8(r.value.as_deref().unwrap_or_default()).map_err(|e| {
            UserError::msg(format!("the payment at {} is not UTF-8: {e}", r.location()))
        })?;
        let parsed = Transaction::parse(line)
            .map_err(|e| UserError::msg(format!("the payment at {}: {e}", r.location())))?;
        if let Some(t) = parsed {
            ctx.output(t);
        }
        Ok(())
    }
}

/// Parses transaction lines into transactions at their own timestamps.
#[derive(Clone)]
pub struct ParseTransactions;

impl beam_core::DoFn for ParseTransactions {
    type In = String;
    type Out = Transaction;
    fn process(
        &mut self,
        line: &String,
        ctx: &mut beam_core::ProcessContext<'_, Transaction>,
    ) -> UserResult {
        if let Some(t) = Transaction::parse(line)? {
            let ts = t.timestamp;
            ctx.output_with_timestamp(t, ts)?;
        }
        Ok(())
    }
}

/// Formats each element with its window: `f(element, window)`.
#[derive(Clone)]
pub struct FormatInWindow<T, F>(pub F, pub std::marker::PhantomData<fn(T)>);

impl<
        T: beam_core::Element,
        F: Fn(&T, &beam_core::Window) -> String + Clone + Send + Sync + 'static,
    > beam_core::DoFn for FormatInWindow<T, F>
{
    type In = T;
    type Out = String;
    fn process(&mut self, x: &T, ctx: &mut beam_core::ProcessContext<'_, String>) -> UserResult {
        let line = (self.0)(x, ctx.window());
        ctx.output(line);
        Ok(())
    }
}

/// `[start, end)` of a window, in UTC.
pub fn window_span(w: &beam_core::Window) -> String {
    match w {
        beam_core::Window::Global => "global".to_string(),
        beam_core::Window::Interval(iw) => format!("[{}, {})", utc(iw.start), utc(iw.end)),
    }
}
