"""The foundation every layer uses: errors and exit codes, findings, file reading, data paths, the
interface catalogue."""
