//! Document payloads (`application/json`, `application/x-ndjson`, `text/csv`) turned into
//! JSON objects, refused exactly as Meilisearch refuses them.
//!
//! [`read_documents`] pushes documents one at a time into a sink while reading, so a large
//! body never has to be held as a whole list of documents; [`parse_payload`] collects them.

use std::io::{self, BufRead, BufReader, Read};

use crate::error::{Code, ResponseError};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One document of a payload.
pub type Document = Map<String, Value>;

/// The content types Meilisearch accepts for documents, in its order.
pub const ACCEPTED_CONTENT_TYPES: [&str; 3] = ["application/json", "application/x-ndjson", "text/csv"];

/// How a payload is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    Json,
    Ndjson,
    Csv { delimiter: u8 },
}

impl PayloadFormat {
    /// Meilisearch's name of the format in its messages.
    pub fn name(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::Ndjson => "ndjson",
            PayloadFormat::Csv { .. } => "csv",
        }
    }

    /// Picks the format from the `Content-Type` header (parameters such as `charset` are
    /// ignored) and the `csvDelimiter` query parameter, with Meilisearch's 415/400 errors.
    pub fn from_content_type(content_type: Option<&str>, csv_delimiter: Option<u8>) -> Result<Self, ResponseError> {
        let Some(header) = content_type else {
            return Err(ResponseError::new(
                Code::MissingContentType,
                format!("A Content-Type header is missing. Accepted values for the Content-Type header are: {}", accepted_list()),
            ));
        };
        let mime: mime::Mime = header.parse().map_err(|_| invalid_content_type(header))?;
        let essence = (mime.type_().as_str(), mime.subtype().as_str());
        match (essence, csv_delimiter) {
            (("application", "json"), None) => Ok(PayloadFormat::Json),
            (("application", "x-ndjson"), None) => Ok(PayloadFormat::Ndjson),
            (("text", "csv"), delimiter) => {
                Ok(PayloadFormat::Csv { delimiter: delimiter.unwrap_or(b',') })
            }
            (("application", subtype @ ("json" | "x-ndjson")), Some(_)) => Err(ResponseError::new(
                Code::InvalidContentType,
                format!("The Content-Type `application/{subtype}` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`."),
            )),
            ((type_, subtype), _) => Err(invalid_content_type(&format!("{type_}/{subtype}"))),
        }
    }
}

fn accepted_list() -> String {
    ACCEPTED_CONTENT_TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
}

fn invalid_content_type(shown: &str) -> ResponseError {
    ResponseError::new(
        Code::InvalidContentType,
        format!("The Content-Type `{shown}` is invalid. Accepted values for the Content-Type header are: {}", accepted_list()),
    )
}

/// `missing_payload` for an empty body.
pub fn missing_payload(format: PayloadFormat) -> ResponseError {
    ResponseError::new(Code::MissingPayload, format!("A {} payload is missing.", format.name()))
}

/// `payload_too_large` for a body over `limit` bytes, with the limit written the way
/// Meilisearch writes it (binary units when the limit is a multiple of 1024, else decimal).
pub fn payload_too_large(limit: u64) -> ResponseError {
    ResponseError::new(
        Code::PayloadTooLarge,
        format!("The provided payload reached the size limit. The maximum accepted payload size is {}.", human_size(limit)),
    )
}

fn human_size(bytes: u64) -> String {
    let (base, units): (f64, [&str; 7]) = if bytes.is_multiple_of(1024) {
        (1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"])
    } else {
        (1000.0, ["B", "KB", "MB", "GB", "TB", "PB", "EB"])
    };
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    format!("{value} {}", units[unit])
}

/// Why reading documents stopped: the payload was refused, or the sink refused a document.
#[derive(Debug)]
pub enum ReadError<E> {
    Payload(ResponseError),
    Sink(E),
}

impl<E> From<ResponseError> for ReadError<E> {
    fn from(error: ResponseError) -> Self {
        ReadError::Payload(error)
    }
}

/// Parses a whole body. An empty body is `missing_payload`.
pub fn parse_payload(format: PayloadFormat, body: &[u8]) -> Result<Vec<Document>, ResponseError> {
    if body.is_empty() {
        return Err(missing_payload(format));
    }
    let mut documents = Vec::new();
    read_documents(format, body, |document| {
        documents.push(document);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|error| match error {
        ReadError::Payload(error) => error,
        ReadError::Sink(never) => match never {},
    })?;
    Ok(documents)
}

/// Reads documents from `reader` and hands each one to `sink` as soon as it is complete.
/// Returns how many documents were read. The caller checks for an empty body first
/// ([`missing_payload`]); an empty reader here is treated as Meilisearch treats a body of
/// only whitespace.
pub fn read_documents<R: Read, E>(
    format: PayloadFormat,
    reader: R,
    sink: impl FnMut(Document) -> Result<(), E>,
) -> Result<u64, ReadError<E>> {
    match format {
        PayloadFormat::Json => read_json(reader, sink),
        PayloadFormat::Ndjson => read_ndjson(reader, sink),
        PayloadFormat::Csv { delimiter } => read_csv(reader, delimiter, sink),
    }
}

/// A JSON array of objects, or a single object. After a top-level array, anything that
/// follows is ignored, as Meilisearch does.
fn read_json<R: Read, E>(reader: R, mut sink: impl FnMut(Document) -> Result<(), E>) -> Result<u64, ReadError<E>> {
    let mut reader = BufReader::new(reader);
    if first_non_whitespace(&mut reader).map_err(io_error)? != Some(b'[') {
        // Not an array: Meilisearch retries the whole payload as one object.
        let document: Document = serde_json::from_reader(reader).map_err(|e| malformed_json(PayloadFormat::Json, &e))?;
        sink(document).map_err(ReadError::Sink)?;
        return Ok(1);
    }
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut outcome = Ok(0);
    let parsed = serde::Deserializer::deserialize_seq(&mut deserializer, ArrayVisitor { sink: &mut sink, outcome: &mut outcome });
    // A refused element stops the visit early, which serde then sees as an unfinished array:
    // the element's own error is the one to report.
    let count = outcome?;
    parsed.map_err(|e| malformed_json(PayloadFormat::Json, &e))?;
    Ok(count)
}

/// Hands every element of a JSON array to the sink as soon as it is read.
struct ArrayVisitor<'s, S, E> {
    sink: &'s mut S,
    outcome: &'s mut Result<u64, ReadError<E>>,
}

impl<'de, S, E> Visitor<'de> for ArrayVisitor<'_, S, E>
where
    S: FnMut(Document) -> Result<(), E>,
{
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a nonempty sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut count = 0;
        while let Some(raw) = seq.next_element_seed(RawSeed)? {
            let result =
                object_from_raw(&raw).map_err(ReadError::Payload).and_then(|document| (self.sink)(document).map_err(ReadError::Sink));
            if let Err(error) = result {
                *self.outcome = Err(error);
                // Stop reading: the rest of the payload no longer matters.
                return Ok(());
            }
            count += 1;
        }
        *self.outcome = Ok(count);
        Ok(())
    }
}

struct RawSeed;

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = Box<RawValue>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// Whitespace-separated JSON objects (not necessarily one per line).
fn read_ndjson<R: Read, E>(reader: R, mut sink: impl FnMut(Document) -> Result<(), E>) -> Result<u64, ReadError<E>> {
    let stream = serde_json::Deserializer::from_reader(BufReader::new(reader)).into_iter::<Box<RawValue>>();
    let mut count = 0;
    for raw in stream {
        let raw = raw.map_err(|e| malformed_json(PayloadFormat::Ndjson, &e))?;
        sink(object_from_raw(&raw)?).map_err(ReadError::Sink)?;
        count += 1;
    }
    Ok(count)
}

/// A syntactically valid element that is not an object. Meilisearch lets this surface as an
/// internal error carrying serde's message about the element's own text.
fn object_from_raw(raw: &RawValue) -> Result<Document, ResponseError> {
    serde_json::from_str(raw.get()).map_err(|e| ResponseError::new(Code::Internal, e.to_string()))
}

/// Meilisearch's `malformed_payload` for a JSON or NDJSON error; type errors become a fixed
/// sentence, syntax errors keep serde's text, shortened in the middle when very long.
fn malformed_json<E>(format: PayloadFormat, error: &serde_json::Error) -> ReadError<E> {
    if error.is_io() {
        return ReadError::Payload(ResponseError::new(Code::Internal, error.to_string()));
    }
    let detail = match error.classify() {
        Category::Data if format == PayloadFormat::Json => "data are neither an object nor a list of objects".to_owned(),
        Category::Data => return ReadError::Payload(ResponseError::new(Code::Internal, error.to_string())),
        _ => shorten(&error.to_string()),
    };
    ReadError::Payload(ResponseError::new(
        Code::MalformedPayload,
        format!("The `{}` payload provided is malformed. `Couldn't serialize document value: {detail}`.", format.name()),
    ))
}

/// Keeps the first 50 and last 85 bytes of a message longer than 138 bytes, joined by `...`
/// (moved to character boundaries).
fn shorten(message: &str) -> String {
    const PREFIX: usize = 50;
    const SUFFIX: usize = 85;
    if message.len() <= PREFIX + SUFFIX + 3 {
        return message.to_owned();
    }
    let mut start = PREFIX;
    while !message.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = message.len() - SUFFIX;
    while !message.is_char_boundary(end) {
        end += 1;
    }
    format!("{}...{}", &message[..start], &message[end..])
}

fn first_non_whitespace(reader: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        match buffer.iter().position(|b| !b" \t\r\n".contains(b)) {
            Some(i) => {
                let byte = buffer[i];
                reader.consume(i);
                return Ok(Some(byte));
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
            }
        }
    }
}

fn io_error<E>(error: io::Error) -> ReadError<E> {
    ReadError::Payload(ResponseError::new(Code::Internal, error.to_string()))
}

/// The type a CSV header declares with a `:string`, `:number` or `:boolean` suffix.
#[derive(Debug, Clone, Copy)]
enum ColumnType {
    String,
    Number,
    Boolean,
}

/// `name:type` splits on the last colon when the type is known; otherwise the whole header
/// is the field name and the column holds strings.
fn column(header: &str) -> (&str, ColumnType) {
    match header.rsplit_once(':') {
        Some((name, "string")) => (name, ColumnType::String),
        Some((name, "number")) => (name, ColumnType::Number),
        Some((name, "boolean")) => (name, ColumnType::Boolean),
        _ => (header, ColumnType::String),
    }
}

/// CSV with a header row. Empty cells are `null`; string cells are kept as written; number
/// and boolean cells are trimmed first. Every row must have as many cells as the header.
fn read_csv<R: Read, E>(reader: R, delimiter: u8, mut sink: impl FnMut(Document) -> Result<(), E>) -> Result<u64, ReadError<E>> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(reader);
    let headers = reader.headers().map_err(malformed_csv)?.clone();
    let columns: Vec<(&str, ColumnType)> = headers.iter().map(column).collect();
    // Field order is the header order; a repeated field keeps its first place and its last value.
    let mut template = Document::new();
    for (name, _) in &columns {
        template.insert((*name).to_owned(), Value::Null);
    }

    let mut line = 0;
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(malformed_csv)? {
        line += 1;
        let mut document = template.clone();
        for ((name, kind), raw) in columns.iter().zip(record.iter()) {
            let value = csv_value(*kind, raw, line)?;
            document.insert((*name).to_owned(), value);
        }
        sink(document).map_err(ReadError::Sink)?;
    }
    Ok(line)
}

fn csv_value(kind: ColumnType, raw: &str, line: u64) -> Result<Value, ResponseError> {
    let trimmed = raw.trim();
    Ok(match kind {
        ColumnType::String if raw.is_empty() => Value::Null,
        ColumnType::String => Value::from(raw),
        ColumnType::Number | ColumnType::Boolean if trimmed.is_empty() => Value::Null,
        ColumnType::Number => match trimmed.parse::<i64>() {
            Ok(integer) => Value::from(integer),
            Err(_) => match trimmed.parse::<f64>() {
                // Non-finite numbers have no JSON form and become null.
                Ok(float) => Value::from(float),
                Err(error) => return Err(malformed_csv_text(&format!("Error parsing number {raw:?} at line {line}: {error}"))),
            },
        },
        ColumnType::Boolean => match trimmed.parse::<bool>() {
            Ok(boolean) => Value::from(boolean),
            Err(error) => return Err(malformed_csv_text(&format!("Error parsing boolean {raw:?} at line {line}: {error}"))),
        },
    })
}

fn malformed_csv<E>(error: csv::Error) -> ReadError<E> {
    if error.is_io_error() {
        return ReadError::Payload(ResponseError::new(Code::Internal, error.to_string()));
    }
    ReadError::Payload(malformed_csv_text(&error.to_string()))
}

fn malformed_csv_text(detail: &str) -> ResponseError {
    ResponseError::new(Code::MalformedPayload, format!("The `csv` payload provided is malformed: `{detail}`."))
}

#[cfg(test)]
mod tests;
