//! Bulk appends: rows held column by column, written by each backend's
//! `append_bulk` (PostgreSQL's `COPY` text, or one JSON array on SQLite).

/// The rows of a bulk append, column by column (name, values): each backend's
/// `append_bulk` writes them, with `COPY` on PostgreSQL (no statement per row, no
/// arrays to unpack) and on SQLite as one JSON array of rows (`bind_bulk`) read
/// as the derived table `v` (`bulk_source`).
pub(super) struct Bulk(pub Vec<(&'static str, BulkColumn)>);

/// One column of a [`Bulk`].
pub(super) enum BulkColumn {
    Text(Vec<String>),
    MaybeText(Vec<Option<String>>),
    Int(Vec<i64>),
    MaybeInt(Vec<Option<i64>>),
}

impl BulkColumn {
    pub(super) fn sql_type(&self) -> &'static str {
        match self {
            BulkColumn::Text(_) | BulkColumn::MaybeText(_) => "TEXT",
            BulkColumn::Int(_) | BulkColumn::MaybeInt(_) => "BIGINT",
        }
    }

    /// Appends the value in `row` to `out` as JSON (`null` for NULL).
    fn json_text(&self, row: usize, out: &mut String) {
        use std::fmt::Write;
        let text = match self {
            BulkColumn::Text(v) => v.get(row).map(String::as_str),
            BulkColumn::MaybeText(v) => v.get(row).and_then(Option::as_deref),
            BulkColumn::Int(v) => return json_number(v.get(row).copied(), out),
            BulkColumn::MaybeInt(v) => return json_number(v.get(row).copied().flatten(), out),
        };
        fn json_number(n: Option<i64>, out: &mut String) {
            match n {
                // Writing to a String cannot fail.
                Some(n) => drop(write!(out, "{n}")),
                None => out.push_str("null"),
            }
        }
        let Some(text) = text else {
            out.push_str("null");
            return;
        };
        out.push('"');
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => drop(write!(out, "\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// Appends the value in `row` to `out` in the text format of PostgreSQL's
    /// `COPY` (`\N` for NULL; backslash, tab, newline and return escaped).
    pub(super) fn copy_text(&self, row: usize, out: &mut Vec<u8>) {
        use std::io::Write;
        let text = match self {
            BulkColumn::Text(v) => v.get(row).map(String::as_str),
            BulkColumn::MaybeText(v) => v.get(row).and_then(Option::as_deref),
            BulkColumn::Int(v) => return number(v.get(row).copied(), out),
            BulkColumn::MaybeInt(v) => return number(v.get(row).copied().flatten(), out),
        };
        fn number(n: Option<i64>, out: &mut Vec<u8>) {
            match n {
                // Writing to a Vec cannot fail.
                Some(n) => drop(write!(out, "{n}")),
                None => out.extend_from_slice(b"\\N"),
            }
        }
        let Some(text) = text else {
            out.extend_from_slice(b"\\N");
            return;
        };
        for byte in text.bytes() {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                other => out.push(other),
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            BulkColumn::Text(v) => v.len(),
            BulkColumn::MaybeText(v) => v.len(),
            BulkColumn::Int(v) => v.len(),
            BulkColumn::MaybeInt(v) => v.len(),
        }
    }
}

impl Bulk {
    /// How many rows it holds.
    pub(super) fn rows(&self) -> usize {
        self.0.first().map_or(0, |(_, c)| c.len())
    }

    /// Its column names, in order.
    pub(super) fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }

    /// Its rows as one JSON array of arrays, written straight into the text (no
    /// JSON tree first: a flush's rows would hold several times their size).
    pub(super) fn json_text(&self) -> String {
        let mut out = String::with_capacity(self.rows() * 16 * self.0.len() + 2);
        out.push('[');
        for row in 0..self.rows() {
            if row > 0 {
                out.push(',');
            }
            out.push('[');
            for (i, (_, column)) in self.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                column.json_text(row, &mut out);
            }
            out.push(']');
        }
        out.push(']');
        out
    }

    /// Its rows in the text format of PostgreSQL's `COPY`: a line per row, the
    /// values separated by tabs.
    pub(super) fn copy_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows() * 16 * self.0.len());
        for row in 0..self.rows() {
            for (i, (_, column)) in self.0.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                column.copy_text(row, &mut out);
            }
            out.push(b'\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Bulk, BulkColumn};

    #[test]
    fn copy_text_escapes_what_copy_reads_as_syntax_and_writes_null_as_such() {
        let bulk = Bulk(vec![
            ("a", BulkColumn::Text(vec!["plain".into(), "tab\there\\ and\nline\r".into()])),
            ("b", BulkColumn::MaybeText(vec![None, Some("x".into())])),
            ("c", BulkColumn::Int(vec![-7, 42])),
            ("d", BulkColumn::MaybeInt(vec![Some(1), None])),
        ]);
        assert_eq!(
            String::from_utf8(bulk.copy_text()).unwrap(),
            "plain\t\\N\t-7\t1\ntab\\there\\\\ and\\nline\\r\tx\t42\t\\N\n"
        );
    }

    #[test]
    fn json_text_is_the_json_of_every_row_whatever_the_text_holds() {
        let hostile = "quote\" back\\slash \u{1} bell\u{7}\n é 🔑";
        let bulk = Bulk(vec![
            ("a", BulkColumn::Text(vec!["plain".into(), hostile.into()])),
            ("b", BulkColumn::MaybeText(vec![None, Some("x".into())])),
            ("c", BulkColumn::Int(vec![-7, i64::MAX])),
            ("d", BulkColumn::MaybeInt(vec![Some(1), None])),
        ]);
        let parsed: serde_json::Value = serde_json::from_str(&bulk.json_text()).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([["plain", null, -7, 1], [hostile, "x", i64::MAX, null]])
        );
        assert_eq!(Bulk(vec![("a", BulkColumn::Int(vec![]))]).json_text(), "[]");
    }
}
