// The public CAs' end of clientAuth in TLS leaf certificates (issue 11 item
// 4): one dated table, control/data/public_ca_eku_sunset.tsv, compiled in
// and installed as share/turnpike/public_ca_eku_sunset.tsv. Matched on
// substrings of a certificate's issuer DN (organisation or CN).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::control {

struct SunsetDate {
  int64_t t = 0;        // Unix seconds, 00:00 UTC; 0: none known
  bool month = false;   // given to the month only (t is the 1st)
  explicit operator bool() const { return t != 0; }
  std::string text() const;  // "2026-02-11", "2027-03" or "-"
};

struct SunsetEntry {
  std::vector<std::string> match;  // lower-case substrings, any one matches
  std::string ca;
  SunsetDate default_off;  // new leaves without clientAuth by default
  SunsetDate hard_stop;    // no leaf with clientAuth any more
  std::string source;
};

// Where a public CA stands on a date.
enum class SunsetState : uint8_t {
  Private,     // no row matches: not a public CA we know (private PKI unaffected)
  Announced,   // before its default change: renewals still carry clientAuth by default
  DefaultOff,  // renewals carry no clientAuth unless asked for
  Stopped,     // no certificate with clientAuth can be had
};
std::string_view to_string(SunsetState s);

struct SunsetTable {
  std::vector<SunsetEntry> rows;
  // The first row one of whose substrings the issuer DN contains (any case).
  const SunsetEntry* match(std::string_view issuer) const;
  static SunsetState state(const SunsetEntry* e, int64_t now);
};

// Parses the TSV (format in the file's header). "" on success, else
// "line N: why"; out is then unspecified.
std::string parse_sunset_table(std::string_view text, SunsetTable& out);
// The table compiled from control/data/public_ca_eku_sunset.tsv.
const SunsetTable& builtin_sunset_table();
std::string_view builtin_sunset_tsv();

// One sentence: "Let's Encrypt: no clientAuth by default since 2026-02-11,
// none issued from 2026-05-13".
std::string sunset_text(const SunsetEntry& e, int64_t now);

}  // namespace turnpike::control
