extension String {
    /// The string as a file-name part: every character but letters, digits, `-` and `_` replaced by `-`
    /// (backend ids, vertex names).
    package var fileToken: String {
        String(self.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
    }
}
