// Package daemon holds what `ferry daemon` needs to run as a systemd user
// service, and nothing of receiving itself (that is transfer's and
// discovery's, joined by the CLI):
//
//   - Notify: sd_notify(3) over the unixgram socket in $NOTIFY_SOCKET (a path
//     or an abstract "@name"): READY=1 with a STATUS= line once the receiver
//     listens and is advertised, STOPPING=1 when it stops.
//   - JournalHandler: slog records as single lines prefixed "<3>" (error),
//     "<4>" (warning), "<6>" (info) or "<7>" (debug), without timestamps,
//     used when UnderJournald says standard error is the journal stream
//     ($JOURNAL_STREAM's device and inode match it).
//   - DownloadDir: the download folder from user-dirs.dirs (a user service
//     does not inherit XDG_DOWNLOAD_DIR from the desktop session).
//   - Unit, Install, Uninstall: the user unit `ferry daemon --install` writes
//     to ~/.config/systemd/user/ferry.service and enables.
package daemon
