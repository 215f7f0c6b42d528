//! The YAML that case files are written in, read straight from the parser's events: one
//! document of mappings, sequences and scalars, without anchors, aliases or tags, and scalars
//! whose type leaves no doubt. serde-saphyr reads the same files three times slower (its
//! event layer, budgets and key tracking); at ten thousand cases that is most of the load.
//!
//! Anything outside the subset, and every error, is read again by [`crate::yaml::parse`]: it
//! decides what the file means and words the error. Here a file either means what it means
//! there, `Spanned` places included, or is not read at all: a test compares both on every case
//! file and on the OpenAPI document.

use granit_parser::{Event, Parser, ScalarStyle, Span, StrInput};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use std::borrow::Cow;

/// Parses `text` as [`crate::yaml::parse`] does, faster where the file stays in the subset.
pub fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, crate::yaml::YamlError> {
    match read(text) {
        Some(value) => Ok(value),
        None => crate::yaml::parse(file, text),
    }
}

/// The file's value, or `None` when it leaves the subset or does not deserialize.
pub fn read<T: DeserializeOwned>(text: &str) -> Option<T> {
    let mut events = Events {
        parser: Parser::new_from_str(text),
        peeked: None,
        depth: 0,
    };
    for expected in [Start::Stream, Start::Document] {
        let (event, _) = events.next().ok()?;
        match (expected, event) {
            (Start::Stream, Event::StreamStart) | (Start::Document, Event::DocumentStart(..)) => {}
            _ => return None,
        }
    }
    let value = T::deserialize(&mut events).ok()?;
    let ends = [events.next().ok()?.0, events.next().ok()?.0];
    matches!(ends, [Event::DocumentEnd, Event::StreamEnd]).then_some(value)
}

#[derive(Clone, Copy)]
enum Start {
    Stream,
    Document,
}

/// Nesting deeper than this is left to serde-saphyr and its budget.
const MAX_DEPTH: usize = 64;

/// The parser's events, one looked ahead.
struct Events<'t> {
    parser: Parser<'t, StrInput<'t>>,
    peeked: Option<(Event<'t>, Span)>,
    depth: usize,
}

/// Outside the subset, or not the type asked for: either way serde-saphyr reads the file.
#[derive(Debug)]
struct Leave;

impl std::fmt::Display for Leave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("outside the YAML subset")
    }
}

impl std::error::Error for Leave {}

impl de::Error for Leave {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Leave
    }
}

/// A scalar as the subset reads it, when its type leaves no doubt.
enum Scalar<'t> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(Cow<'t, str>),
}

impl<'t> Events<'t> {
    fn next(&mut self) -> Result<(Event<'t>, Span), Leave> {
        match self.peeked.take() {
            Some(event) => Ok(event),
            None => match self.parser.next_event() {
                Some(Ok(event)) => Ok(event),
                _ => Err(Leave),
            },
        }
    }

    fn peek(&mut self) -> Result<&(Event<'t>, Span), Leave> {
        if self.peeked.is_none() {
            self.peeked = Some(self.next()?);
        }
        self.peeked.as_ref().ok_or(Leave)
    }

    /// The next node's scalar, consumed; `Leave` for a collection or what the subset does not
    /// read.
    fn scalar(&mut self) -> Result<Scalar<'t>, Leave> {
        match self.next()?.0 {
            Event::Scalar(text, style, 0, None) => resolve(text, style),
            _ => Err(Leave),
        }
    }

    /// Whether the next node is a plain null (`null`, `~` or nothing).
    fn null_next(&mut self) -> Result<bool, Leave> {
        Ok(matches!(
            &self.peek()?.0,
            Event::Scalar(text, ScalarStyle::Plain, 0, None) if is_null(text)
        ))
    }

    fn nested<R>(
        &mut self,
        inside: impl FnOnce(&mut Self) -> Result<R, Leave>,
    ) -> Result<R, Leave> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Leave);
        }
        let result = inside(self);
        self.depth -= 1;
        result
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// The core schema's types, for the forms that mean one thing only; a plain scalar that only
/// looks like a number or a boolean in another form (`+1`, `0x1f`, `1_000`, `010`, `.inf`,
/// `True`, `1:30`) leaves the subset.
fn resolve(text: Cow<'_, str>, style: ScalarStyle) -> Result<Scalar<'_>, Leave> {
    if style != ScalarStyle::Plain {
        return Ok(Scalar::Str(text));
    }
    if is_null(&text) {
        return Ok(Scalar::Null);
    }
    match &*text {
        "true" => return Ok(Scalar::Bool(true)),
        "false" => return Ok(Scalar::Bool(false)),
        other if other.eq_ignore_ascii_case("true") || other.eq_ignore_ascii_case("false") => {
            return Err(Leave)
        }
        _ => {}
    }
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(unsigned) && (unsigned.len() == 1 || !unsigned.starts_with('0')) {
        return match text.starts_with('-') {
            true => text.parse().map(Scalar::Signed).map_err(|_| Leave),
            false => text.parse().map(Scalar::Unsigned).map_err(|_| Leave),
        };
    }
    if is_decimal(unsigned) {
        // `1e999` is no finite number: serde-saphyr decides what it is.
        return match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Scalar::Float(n)),
            _ => Err(Leave),
        };
    }
    match might_be_a_number(&text) {
        true => Err(Leave),
        false => Ok(Scalar::Str(text)),
    }
}

/// `1.5`, `0.5`, `1e3`, `1.5E-3`: digits, a point between digits or an exponent, no leading
/// zero.
fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    let whole_ok = digits(whole) && (whole.len() == 1 || !whole.starts_with('0'));
    (fraction.is_some() || exponent.is_some())
        && whole_ok
        && fraction.is_none_or(digits)
        && exponent_ok
}

/// Whether some schema could read a plain scalar as a number (a radix, underscores, a
/// sexagesimal, a special float) or a date: then serde-saphyr decides.
fn might_be_a_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let special = [".inf", ".nan", "inf", "nan", "infinity", ".infinity"];
    let starts_like_one = unsigned
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    special.iter().any(|s| unsigned.eq_ignore_ascii_case(s))
        || (starts_like_one
            && unsigned
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b"_.:+-xXoO".contains(&b)))
}

impl<'de> de::Deserializer<'de> for &mut Events<'de> {
    type Error = Leave;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.peek()?.0 {
            Event::SequenceStart(_, 0, None) => self.deserialize_seq(visitor),
            Event::MappingStart(_, 0, None) => self.deserialize_map(visitor),
            _ => match self.scalar()? {
                Scalar::Null => visitor.visit_unit(),
                Scalar::Bool(b) => visitor.visit_bool(b),
                Scalar::Unsigned(n) => visitor.visit_u64(n),
                Scalar::Signed(n) => visitor.visit_i64(n),
                Scalar::Float(n) => visitor.visit_f64(n),
                Scalar::Str(Cow::Borrowed(s)) => visitor.visit_borrowed_str(s),
                Scalar::Str(Cow::Owned(s)) => visitor.visit_string(s),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.scalar()? {
            Scalar::Bool(b) => visitor.visit_bool(b),
            _ => Err(Leave),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.scalar()? {
            Scalar::Unsigned(n) => visitor.visit_u64(n),
            Scalar::Signed(n) => visitor.visit_i64(n),
            _ => Err(Leave),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.scalar()? {
            Scalar::Unsigned(n) => visitor.visit_u64(n),
            Scalar::Signed(n) => visitor.visit_i64(n),
            Scalar::Float(n) => visitor.visit_f64(n),
            _ => Err(Leave),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        // A plain `true` or `12` is text to a string field: what matters is that it is not
        // null, which a string field refuses.
        match self.next()?.0 {
            Event::Scalar(text, style, 0, None)
                if style != ScalarStyle::Plain || !is_null(&text) =>
            {
                match text {
                    Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
                    Cow::Owned(s) => visitor.visit_string(s),
                }
            }
            _ => Err(Leave),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        if self.null_next()? {
            self.next()?;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.scalar()? {
            Scalar::Null => visitor.visit_unit(),
            _ => Err(Leave),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Leave> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Leave> {
        if name == SPANNED {
            let start = self.peek()?.1.start;
            let at = (start.line() as u64, start.col() as u64 + 1);
            return visitor.visit_newtype_struct(SpannedParts {
                events: self,
                at,
                next: 0,
            });
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.next()?.0 {
            Event::SequenceStart(_, 0, None) => {}
            _ => return Err(Leave),
        }
        self.nested(|events| {
            let value = visitor.visit_seq(Elements { events })?;
            match events.next()?.0 {
                Event::SequenceEnd => Ok(value),
                _ => Err(Leave),
            }
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Leave> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        match self.next()?.0 {
            Event::MappingStart(_, 0, None) => {}
            _ => return Err(Leave),
        }
        self.nested(|events| {
            let value = visitor.visit_map(Entries {
                events,
                keys: Vec::new(),
            })?;
            match events.next()?.0 {
                Event::MappingEnd => Ok(value),
                _ => Err(Leave),
            }
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Leave> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Leave> {
        // A unit variant by its name; other shapes are rare in case files.
        match self.scalar()? {
            Scalar::Str(name) => visitor.visit_enum(name.into_owned().into_deserializer()),
            _ => Err(Leave),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_any(de::IgnoredAny)?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! { char bytes byte_buf }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_u64(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        self.deserialize_f64(visitor)
    }
}

struct Elements<'a, 't> {
    events: &'a mut Events<'t>,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Leave;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Leave> {
        if matches!(self.events.peek()?.0, Event::SequenceEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.events).map(Some)
    }
}

/// A mapping's entries; a key seen twice leaves the subset (serde-saphyr says where), and so
/// does a merge key (`<<`).
struct Entries<'a, 't> {
    events: &'a mut Events<'t>,
    keys: Vec<Cow<'t, str>>,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Leave;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Leave> {
        let key = match &self.events.peek()?.0 {
            Event::MappingEnd => return Ok(None),
            Event::Scalar(key, style, 0, None)
                if !(*style == ScalarStyle::Plain && key == "<<") =>
            {
                key.clone()
            }
            // A merge key, or a key that is no scalar: serde-saphyr's.
            _ => return Err(Leave),
        };
        if self.keys.contains(&key) {
            return Err(Leave);
        }
        self.keys.push(key);
        seed.deserialize(&mut *self.events).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Leave> {
        seed.deserialize(&mut *self.events)
    }
}

/// The newtype name through which serde-saphyr's `Spanned` asks for a node's place, and the
/// first key of the fields it then reads (`value`, `referenced`, `defined`): what serde-saphyr
/// itself gives it.
const SPANNED: &str = "__yaml_spanned";
const SPANNED_MARKER: &str = "__serde_saphyr_private_spanned";

/// A node as `Spanned` reads it: its value, and where it is, twice (no alias refers to it).
struct SpannedParts<'a, 't> {
    events: &'a mut Events<'t>,
    /// 1-based line and column of the node.
    at: (u64, u64),
    next: u8,
}

impl<'de> de::Deserializer<'de> for SpannedParts<'_, 'de> {
    type Error = Leave;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Leave> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> de::MapAccess<'de> for SpannedParts<'_, 'de> {
    type Error = Leave;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Leave> {
        let key = match self.next {
            0 => SPANNED_MARKER,
            1 => "value",
            2 => "referenced",
            3 => "defined",
            _ => return Ok(None),
        };
        self.next += 1;
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Leave> {
        match self.next {
            1 => seed.deserialize(true.into_deserializer()),
            2 => seed.deserialize(&mut *self.events),
            _ => {
                let (line, column) = self.at;
                let place = [("line", line), ("column", column)];
                seed.deserialize(de::value::MapDeserializer::new(place.into_iter()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
