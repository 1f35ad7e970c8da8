//! Text written into formats that give some characters a meaning (CSV cells, HTML) and the
//! formats reports are asked in; amounts as people read them.

/// A CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, and defused when a
/// spreadsheet would run it as a formula (a leading `=`, `+`, `-`, `@`, tab or CR gets a `'`),
/// since cells quote user input. Numbers we write ourselves need no cell: write them as they are.
pub fn csv_cell(cell: &str) -> String {
    let defused;
    let cell = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{cell}");
        defused.as_str()
    } else {
        cell
    };
    if cell.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

/// Appends one CSV line (CRLF-terminated, RFC 4180) of cells already written: text through
/// [`csv_cell`], our own numbers as they are.
pub fn push_csv_row(csv: &mut String, cells: &[String]) {
    csv.push_str(&cells.join(","));
    csv.push_str("\r\n");
}

/// Text safe inside HTML elements and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Amounts in minor units as "USD 2,500.00" (ISO 4217 exponents: 0 for JPY, KRW, ...).
pub fn display_money(amount_minor: i64, currency: &str) -> String {
    let exponent: u32 = match currency {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    };
    let sign = if amount_minor < 0 { "-" } else { "" };
    let magnitude = amount_minor.unsigned_abs();
    let unit = 10_u64.pow(exponent);
    let whole = group_thousands(magnitude / unit);
    if exponent == 0 {
        format!("{currency} {sign}{whole}")
    } else {
        let fraction = magnitude % unit;
        format!(
            "{currency} {sign}{whole}.{fraction:0width$}",
            width = exponent as usize
        )
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// The format a report is asked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Csv,
}

impl ReportFormat {
    /// `""` or `json` (any case) is JSON, `csv` is CSV; anything else is refused.
    pub fn parse(format: &str) -> Result<Self, crate::AppError> {
        match format.trim().to_ascii_lowercase().as_str() {
            "" | "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            _ => Err(crate::AppError::invalid("format", "must be json or csv")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_json_by_default_csv_on_request_and_nothing_else() {
        assert_eq!(ReportFormat::parse("").unwrap(), ReportFormat::Json);
        assert_eq!(ReportFormat::parse("CSV").unwrap(), ReportFormat::Csv);
        assert!(ReportFormat::parse("xml").is_err());
    }

    #[test]
    fn money_uses_the_currency_exponent_and_groups_thousands() {
        assert_eq!(display_money(250_000_000, "USD"), "USD 2,500,000.00");
        assert_eq!(display_money(5, "USD"), "USD 0.05");
        assert_eq!(display_money(1_234_567, "JPY"), "JPY 1,234,567");
        assert_eq!(display_money(1_234, "KWD"), "KWD 1.234");
        assert_eq!(display_money(-99, "EUR"), "EUR -0.99");
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@cmd"), "'@cmd");
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(escape_html("plain é"), "plain é");
    }
}
