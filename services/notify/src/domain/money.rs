//! Amounts as the e-mails write them: minor units of an ISO 4217 currency, with the
//! currency's exponent and grouped thousands ("USD 2,500.00", "JPY 1,234,567").

/// An amount in minor units of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currency_exponent_and_groups_thousands() {
        assert_eq!(display_money(250_000_000, "USD"), "USD 2,500,000.00");
        assert_eq!(display_money(5, "USD"), "USD 0.05");
        assert_eq!(display_money(1_234_567, "JPY"), "JPY 1,234,567");
        assert_eq!(display_money(1_234, "KWD"), "KWD 1.234");
        assert_eq!(display_money(-99, "EUR"), "EUR -0.99");
    }
}
