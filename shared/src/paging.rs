//! Page sizes of list RPCs, the same way everywhere (see common.proto's conventions): 0 means
//! the RPC's default, values above its maximum are clamped, negative values are refused.

use crate::AppError;

/// The page size to use for a requested `page_size`.
pub fn page_size(requested: i32, default: u32, maximum: u32) -> Result<u32, AppError> {
    match u32::try_from(requested) {
        Err(_) => Err(AppError::invalid("page_size", "must not be negative")),
        Ok(0) => Ok(default),
        Ok(size) => Ok(size.min(maximum)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_clamp_and_refuse_negatives() {
        assert_eq!(page_size(0, 20, 100).unwrap(), 20);
        assert_eq!(page_size(5, 20, 100).unwrap(), 5);
        assert_eq!(page_size(1000, 20, 100).unwrap(), 100);
        assert!(page_size(-1, 20, 100).is_err());
    }
}
