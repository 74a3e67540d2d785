//! The bytes of a plan file as text: UTF-8, with or without a byte order mark, or UTF-16 as
//! Windows PowerShell writes `terraform show -json > plan.json` (little-endian, with a BOM).

use crate::PlanError;

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];
const UTF16_LE_BOM: &[u8] = &[0xFF, 0xFE];
const UTF16_BE_BOM: &[u8] = &[0xFE, 0xFF];

pub fn decode(mut bytes: Vec<u8>) -> Result<String, PlanError> {
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
        return utf8(bytes);
    }
    if let Some(rest) = bytes.strip_prefix(UTF16_LE_BOM) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(UTF16_BE_BOM) {
        return utf16(rest, u16::from_be_bytes);
    }
    // JSON starts with an ASCII character: a zero byte next to it gives UTF-16 without a BOM away.
    match bytes.as_slice() {
        [first, 0, ..] if *first != 0 => utf16(&bytes, u16::from_le_bytes),
        [0, second, ..] if *second != 0 => utf16(&bytes, u16::from_be_bytes),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, PlanError> {
    String::from_utf8(bytes).map_err(|error| {
        PlanError::Encoding(format!("not UTF-8 text (invalid byte at offset {})", error.utf8_error().valid_up_to()))
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, PlanError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(PlanError::Encoding("UTF-16 text with an odd number of bytes".to_owned()));
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]])).collect();
    String::from_utf16(&units).map_err(|_| PlanError::Encoding("not valid UTF-16 text".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_a_plan_is_saved_in_gives_the_same_text() {
        let text = "{\"format_version\": \"1.2\", \"é\": 1}";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for bytes in [
            text.as_bytes().to_vec(),
            [UTF8_BOM, text.as_bytes()].concat(),
            [UTF16_LE_BOM, &le].concat(),
            [UTF16_BE_BOM, &be].concat(),
            le.clone(),
            be.clone(),
        ] {
            assert_eq!(decode(bytes).unwrap(), text);
        }
    }

    #[test]
    fn bytes_that_are_no_text_are_named() {
        assert_eq!(
            decode(vec![b'{', 0xFF, b'}']).unwrap_err().to_string(),
            "not UTF-8 text (invalid byte at offset 1)"
        );
    }
}
