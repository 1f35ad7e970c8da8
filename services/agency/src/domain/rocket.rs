//! Rockets: name, passenger capacity (1 to 100) and range.

use astro_shared::AppError;

use super::required_text;

pub const MIN_CAPACITY: i32 = 1;
pub const MAX_CAPACITY: i32 = 100;

/// How far a rocket flies; stored by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RocketRange {
    Suborbital,
    LowEarthOrbit,
    Interplanetary,
}

impl RocketRange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suborbital => "SUBORBITAL",
            Self::LowEarthOrbit => "LOW_EARTH_ORBIT",
            Self::Interplanetary => "INTERPLANETARY",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "SUBORBITAL" => Some(Self::Suborbital),
            "LOW_EARTH_ORBIT" => Some(Self::LowEarthOrbit),
            "INTERPLANETARY" => Some(Self::Interplanetary),
            _ => None,
        }
    }
}

/// A rocket name: trimmed, 1 to 100 characters.
pub fn parse_name(name: &str) -> Result<String, AppError> {
    required_text("name", name, 100)
}

/// A passenger capacity within 1 to 100.
pub fn parse_capacity(capacity: i32) -> Result<i32, AppError> {
    if (MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        Ok(capacity)
    } else {
        Err(AppError::invalid(
            "passenger_capacity",
            format!("must be between {MIN_CAPACITY} and {MAX_CAPACITY}"),
        ))
    }
}

/// A range that is set (`None` is the contract's UNSPECIFIED or an unknown value).
pub fn require_range(range: Option<RocketRange>) -> Result<RocketRange, AppError> {
    range.ok_or_else(|| {
        AppError::invalid(
            "range",
            "must be SUBORBITAL, LOW_EARTH_ORBIT or INTERPLANETARY",
        )
    })
}

/// A new rocket, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRocket {
    pub name: String,
    pub passenger_capacity: i32,
    pub range: RocketRange,
}

impl NewRocket {
    pub fn parse(name: &str, capacity: i32, range: Option<RocketRange>) -> Result<Self, AppError> {
        Ok(Self {
            name: parse_name(name)?,
            passenger_capacity: parse_capacity(capacity)?,
            range: require_range(range)?,
        })
    }
}

/// The fields an edit changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RocketChanges {
    pub name: Option<String>,
    pub passenger_capacity: Option<i32>,
    pub range: Option<RocketRange>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_must_be_between_1_and_100() {
        for bad in [0, 101, -1] {
            let error = parse_capacity(bad).unwrap_err();
            assert!(
                matches!(error, AppError::InvalidArgument { ref field, .. } if field == "passenger_capacity")
            );
        }
        assert_eq!(parse_capacity(1).unwrap(), 1);
        assert_eq!(parse_capacity(100).unwrap(), 100);
    }

    #[test]
    fn a_rocket_needs_a_name_and_a_range() {
        assert!(NewRocket::parse(" ", 5, Some(RocketRange::Suborbital)).is_err());
        assert!(NewRocket::parse("Falcon", 5, None).is_err());
        let rocket = NewRocket::parse(" Falcon X ", 5, Some(RocketRange::Interplanetary)).unwrap();
        assert_eq!(rocket.name, "Falcon X");
    }

    #[test]
    fn ranges_round_trip_through_their_names() {
        for range in [
            RocketRange::Suborbital,
            RocketRange::LowEarthOrbit,
            RocketRange::Interplanetary,
        ] {
            assert_eq!(RocketRange::parse(range.as_str()), Some(range));
        }
    }
}
