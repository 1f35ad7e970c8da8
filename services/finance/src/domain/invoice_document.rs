//! The PDF of an invoice: one A4 page that carries every legal field (issuer, number, legal
//! and due date, the agency's legal name, tax id and address), the launch, the basis of the
//! fee, the lines and where the payments stand.
//!
//! Written with typst's `pdf-writer` and the standard-14 fonts (Helvetica for text, Courier
//! for amounts, so columns of figures right-align exactly without font metrics), so there is
//! no font file to ship and every reader shows it. Nothing time-dependent is written (no
//! creation date): the same invoice and payments give the same bytes.

use astro_shared::text::display_money;
use chrono::{DateTime, NaiveDate, Utc};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::invoice::{InvoiceStatus, Line};

/// Who issues every invoice: the platform.
pub const ISSUER: [&str; 2] = [
    "AstroBookings",
    "Launch booking platform - fees on launches sold through it",
];

/// Everything the page shows, gathered from the invoice as issued and its payments now.
#[derive(Debug, Clone)]
pub struct InvoiceDocument {
    pub number: String,
    /// What is billed, e.g. "Launch fee".
    pub title: String,
    pub legal_date: NaiveDate,
    pub due_date: NaiveDate,
    pub issued_at: DateTime<Utc>,
    pub status: InvoiceStatus,
    pub currency: String,
    pub agency_name: String,
    pub tax_id: String,
    /// The legal address, one line each, and the billing e-mail.
    pub address: Vec<String>,
    /// The launch: label and value.
    pub launch: Vec<(String, String)>,
    /// How the fee was computed: label and value.
    pub fee_basis: Vec<(String, String)>,
    pub lines: Vec<Line>,
    pub amount_minor: i64,
    /// The credit notes against it: number, legal date and amount, oldest first.
    pub credit_notes: Vec<(String, NaiveDate, i64)>,
    pub paid_minor: i64,
}

const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 56.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
const MONO: Name<'static> = Name(b"F3");
/// Courier's advance: 600/1000 of the font size for every character.
const MONO_ADVANCE: f32 = 0.6;
/// The longest text one line of the page holds; longer text is cut with "...".
const MAX_TEXT: usize = 80;

/// Text placed on the page, top to bottom.
struct Page {
    content: Content,
    y: f32,
}

impl Page {
    fn new() -> Self {
        Self {
            content: Content::new(),
            y: PAGE.1 - MARGIN,
        }
    }

    fn text(&mut self, font: Name, size: f32, x: f32, y: f32, text: &str) {
        self.content
            .begin_text()
            .set_font(font, size)
            .set_text_matrix([1.0, 0.0, 0.0, 1.0, x, y])
            .show(Str(&win_ansi(text)))
            .end_text();
    }

    /// An amount whose last character ends at `right`.
    fn amount(&mut self, size: f32, right: f32, y: f32, text: &str) {
        let width = text.chars().count() as f32 * size * MONO_ADVANCE;
        self.text(MONO, size, right - width, y, text);
    }

    fn line(&mut self, text_font: Name, size: f32, text: &str) {
        self.y -= size * 1.45;
        self.text(text_font, size, MARGIN, self.y, text);
    }

    fn heading(&mut self, text: &str) {
        self.y -= 10.0;
        self.line(BOLD, 11.0, text);
        self.rule(0.6);
    }

    fn rule(&mut self, width: f32) {
        self.y -= 4.0;
        self.content
            .set_line_width(width)
            .move_to(MARGIN, self.y)
            .line_to(PAGE.0 - MARGIN, self.y)
            .stroke();
    }

    fn pair(&mut self, label: &str, value: &str) {
        self.y -= 14.0;
        self.text(REGULAR, 10.0, MARGIN, self.y, label);
        self.text(REGULAR, 10.0, MARGIN + 150.0, self.y, &clip(value));
    }
}

/// The invoice as PDF bytes.
pub fn render(document: &InvoiceDocument) -> Vec<u8> {
    let mut page = Page::new();
    let right = PAGE.0 - MARGIN;
    let money = |minor: i64| display_money(minor, &document.currency);

    page.text(BOLD, 22.0, MARGIN, page.y - 22.0, "INVOICE");
    page.amount(12.0, right, page.y - 20.0, &document.number);
    page.y -= 30.0;
    page.line(REGULAR, 11.0, &clip(&document.title));
    page.y -= 6.0;
    for (index, line) in ISSUER.iter().enumerate() {
        page.line(if index == 0 { BOLD } else { REGULAR }, 10.0, line);
    }

    page.heading("Invoice");
    page.pair("Invoice number", &document.number);
    page.pair("Legal date", &document.legal_date.to_string());
    page.pair("Due date", &document.due_date.to_string());
    page.pair(
        "Issued at",
        &document.issued_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    );
    page.pair("Currency", &document.currency);
    page.pair("Status", document.status.as_str());

    page.heading("Bill to");
    page.pair("Legal name", &document.agency_name);
    page.pair("Tax ID", &document.tax_id);
    for (index, line) in document.address.iter().enumerate() {
        page.pair(if index == 0 { "Address" } else { "" }, line);
    }

    page.heading("Launch");
    for (label, value) in &document.launch {
        page.pair(label, value);
    }
    page.heading("Fee basis");
    for (label, value) in &document.fee_basis {
        page.pair(label, value);
    }

    page.heading("Lines");
    page.y -= 14.0;
    page.text(BOLD, 9.0, MARGIN, page.y, "Description");
    page.text(BOLD, 9.0, right - 190.0, page.y, "Qty");
    page.text(BOLD, 9.0, right - 40.0, page.y, "Amount");
    for line in &document.lines {
        page.y -= 14.0;
        page.text(
            REGULAR,
            9.0,
            MARGIN,
            page.y,
            &clip_to(&line.description, 62),
        );
        page.amount(9.0, right - 170.0, page.y, &line.quantity.to_string());
        page.amount(
            9.0,
            right,
            page.y,
            &display_money(line.amount_minor, &line.currency),
        );
    }
    page.rule(0.6);
    let credited_minor: i64 = document
        .credit_notes
        .iter()
        .map(|(_, _, minor)| minor)
        .sum();
    let due_minor = document.amount_minor - credited_minor - document.paid_minor;
    let credit_lines = document
        .credit_notes
        .iter()
        .map(|(number, date, minor)| (format!("Credit note {number} of {date}"), -minor));
    let totals = std::iter::once(("Total fee".to_owned(), document.amount_minor))
        .chain(credit_lines)
        .chain([
            ("Paid".to_owned(), document.paid_minor),
            ("Amount due".to_owned(), due_minor),
        ]);
    for (label, minor) in totals {
        page.y -= 15.0;
        page.text(BOLD, 10.0, right - 260.0, page.y, &label);
        page.amount(10.0, right, page.y, &money(minor));
    }

    page.y -= 24.0;
    let closing = if due_minor > 0 {
        format!(
            "Please pay {} by {}, quoting {}.",
            money(due_minor),
            document.due_date,
            document.number
        )
    } else {
        format!("Nothing is due on {}.", document.number)
    };
    page.line(REGULAR, 9.0, &closing);

    write_pdf(&document.number, page.content)
}

/// One page with the three fonts and `content`.
fn write_pdf(title: &str, content: Content) -> Vec<u8> {
    let catalog = Ref::new(1);
    let pages = Ref::new(2);
    let page_id = Ref::new(3);
    let content_id = Ref::new(4);
    let info = Ref::new(5);
    let fonts = [
        (REGULAR, Ref::new(6), "Helvetica"),
        (BOLD, Ref::new(7), "Helvetica-Bold"),
        (MONO, Ref::new(8), "Courier"),
    ];

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
        .parent(pages)
        .contents(content_id);
    let mut resources = page.resources();
    let mut font_map = resources.fonts();
    for (name, id, _) in fonts {
        font_map.pair(name, id);
    }
    font_map.finish();
    resources.finish();
    page.finish();
    for (_, id, base) in fonts {
        pdf.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.stream(content_id, &content.finish());
    pdf.document_info(info)
        .title(TextStr(&format!("Invoice {title}")))
        .producer(TextStr("AstroBookings FinanceAPI"));
    pdf.finish()
}

fn clip(text: &str) -> String {
    clip_to(text, MAX_TEXT)
}

fn clip_to(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(most.saturating_sub(3)).collect();
        format!("{kept}...")
    }
}

/// `text` in WinAnsiEncoding (Windows-1252), the encoding the standard fonts are declared
/// with: Latin-1 and the common punctuation; anything else becomes `?`, and control
/// characters a space, so no input can break the page's content stream.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' '..='~' | '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            '\u{20ac}' => 0x80,
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201c}' => 0x93,
            '\u{201d}' => 0x94,
            '\u{2022}' => 0x95,
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            c if c.is_control() => b' ',
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn document() -> InvoiceDocument {
        InvoiceDocument {
            number: "AB-2026-000042".into(),
            title: "Launch fee".into(),
            legal_date: NaiveDate::from_ymd_opt(2026, 12, 5).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2027, 1, 4).unwrap(),
            issued_at: Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap(),
            status: InvoiceStatus::PartiallyPaid,
            currency: "USD".into(),
            agency_name: "Orbital Dynamics Société".into(),
            tax_id: "ES-B12345678".into(),
            address: vec!["1 Launch Way".into(), "Sevilla 41001 ES".into()],
            launch: vec![("Launch".into(), "falcon-dawn".into())],
            fee_basis: vec![("Fee rate".into(), "1% (100 basis points)".into())],
            lines: vec![Line {
                kind: "FEE".into(),
                description: "Platform fee 1% of net revenue".into(),
                quantity: 1,
                amount_minor: 250_000,
                currency: "USD".into(),
            }],
            amount_minor: 250_000,
            credit_notes: Vec::new(),
            paid_minor: 100_000,
        }
    }

    #[test]
    fn the_same_invoice_gives_the_same_bytes_and_a_pdf() {
        let first = render(&document());
        assert!(first.starts_with(b"%PDF-"));
        assert_eq!(first, render(&document()));
        let mut paid = document();
        paid.paid_minor = 250_000;
        assert_ne!(first, render(&paid));
        let mut credited = document();
        credited.credit_notes = vec![(
            "CN-2026-000001".into(),
            NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            50_000,
        )];
        assert_ne!(first, render(&credited));
    }

    #[test]
    fn text_is_written_in_win_ansi_and_cannot_break_the_stream() {
        assert_eq!(win_ansi("Société €"), b"Soci\xe9t\xe9 \x80".to_vec());
        assert_eq!(win_ansi("a\nb\u{4e2d}"), b"a b?".to_vec());
        assert_eq!(clip_to("abcdefgh", 6), "abc...");
        assert_eq!(clip_to("abc", 6), "abc");
    }
}
