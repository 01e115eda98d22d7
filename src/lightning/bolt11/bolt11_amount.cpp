// The human-readable part of an invoice: "ln", the currency prefix, and the amount in bitcoin
// with an optional multiplier letter.

#include <array>
#include <string>

#include "lightning/bolt11/bolt11_codec.hpp"

namespace petalsln {

const char* to_string(Bolt11Network network) noexcept {
  switch (network) {
    case Bolt11Network::mainnet: return "mainnet";
    case Bolt11Network::testnet: return "testnet";
    case Bolt11Network::signet: return "signet";
    case Bolt11Network::regtest: return "regtest";
    case Bolt11Network::simnet: return "simnet";
  }
  return "unknown";
}

const char* bolt11_currency_prefix(Bolt11Network network) noexcept {
  switch (network) {
    case Bolt11Network::mainnet: return "bc";
    case Bolt11Network::testnet: return "tb";
    case Bolt11Network::signet: return "tbs";
    case Bolt11Network::regtest: return "bcrt";
    case Bolt11Network::simnet: return "sb";
  }
  return "";
}

namespace lightning {
namespace {

// No more bitcoin than will ever exist: 21 million, in millisatoshi.
constexpr std::uint64_t kMaxAmountMsat = 2'100'000'000'000'000'000ULL;

struct Multiplier {
  char letter;  // '\0' for whole bitcoin
  Bolt11AmountUnit unit;
  std::uint64_t msat;  // millisatoshi per written unit; 0 for pico (a tenth of a msat)
};

// Largest first, so the first exact divisor is the shortest way to write an amount.
constexpr std::array<Multiplier, 5> kMultipliers{{
    {'\0', Bolt11AmountUnit::bitcoin, 100'000'000'000ULL},
    {'m', Bolt11AmountUnit::milli, 100'000'000ULL},
    {'u', Bolt11AmountUnit::micro, 100'000ULL},
    {'n', Bolt11AmountUnit::nano, 100ULL},
    {'p', Bolt11AmountUnit::pico, 0},
}};

const Multiplier* find_letter(char letter) {
  for (const auto& m : kMultipliers) {
    if (m.letter == letter) return &m;
  }
  return nullptr;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::uint64_t parse_digits(const std::string& digits) {
  std::uint64_t v = 0;
  for (char c : digits) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (kMaxAmountMsat - d) / 10) malformed("amount " + digits + " is more than 21 million bitcoin");
    v = v * 10 + d;
  }
  return v;
}

Bolt11Network parse_currency(const std::string& currency) {
  for (auto n : {Bolt11Network::mainnet, Bolt11Network::testnet, Bolt11Network::signet, Bolt11Network::regtest,
                 Bolt11Network::simnet}) {
    if (currency == bolt11_currency_prefix(n)) return n;
  }
  fail(ErrorCode::unsupported, "unknown currency prefix \"" + currency + "\" (known: bc, tb, tbs, bcrt, sb)");
}

// Reads "<digits>[multiplier]" into msat and the unit it was written in.
void parse_amount(const std::string& text, Bolt11Invoice& invoice) {
  std::size_t end = 0;
  while (end < text.size() && is_digit(text[end])) ++end;
  const std::string digits = text.substr(0, end);
  if (text.size() > end + 1) malformed("amount \"" + text + "\" is not digits followed by at most one multiplier");
  const Multiplier* mult = end < text.size() ? find_letter(text[end]) : &kMultipliers[0];
  if (mult == nullptr) malformed("invalid amount multiplier '" + text.substr(end) + "' (m, u, n or p)");
  if (digits[0] == '0') malformed("amount \"" + digits + "\" must be positive, without leading zeros");
  std::uint64_t msat = 0;
  if (mult->unit == Bolt11AmountUnit::pico) {
    // A pico-bitcoin is a tenth of a millisatoshi, which no HTLC can carry.
    if (digits.back() != '0') malformed("amount " + digits + "p is not a whole number of millisatoshi (must end in 0)");
    msat = parse_digits(digits.substr(0, digits.size() - 1));
  } else {
    const std::uint64_t v = parse_digits(digits);
    if (v > kMaxAmountMsat / mult->msat) malformed("amount " + text + " is more than 21 million bitcoin");
    msat = v * mult->msat;
  }
  invoice.amount_msat = msat;
  invoice.amount_unit = mult->unit;
}

}  // namespace

void parse_human_readable_part(const std::string& hrp, Bolt11Invoice& invoice) {
  if (hrp.rfind("ln", 0) != 0) malformed("human-readable part \"" + hrp + "\" does not start with \"ln\"");
  std::size_t digit = 2;
  while (digit < hrp.size() && !is_digit(hrp[digit])) ++digit;
  invoice.network = parse_currency(hrp.substr(2, digit - 2));
  invoice.amount_msat.reset();
  invoice.amount_unit = Bolt11AmountUnit::shortest;
  if (digit < hrp.size()) parse_amount(hrp.substr(digit), invoice);
}

std::string write_amount(const Bolt11Invoice& invoice) {
  if (!invoice.amount_msat) return "";
  const std::uint64_t msat = *invoice.amount_msat;
  if (msat == 0 || msat > kMaxAmountMsat) {
    fail(ErrorCode::invalid_argument, "amount " + std::to_string(msat) + " msat is not between 1 msat and 21 million bitcoin");
  }
  for (const auto& m : kMultipliers) {
    const bool wanted = invoice.amount_unit == m.unit || invoice.amount_unit == Bolt11AmountUnit::shortest;
    if (!wanted) continue;
    if (m.unit == Bolt11AmountUnit::pico) return std::to_string(msat) + "0p";
    if (msat % m.msat == 0) {
      return std::to_string(msat / m.msat) + (m.letter != '\0' ? std::string(1, m.letter) : std::string());
    }
    if (invoice.amount_unit != Bolt11AmountUnit::shortest) break;
  }
  fail(ErrorCode::invalid_argument,
       "amount " + std::to_string(msat) + " msat is not a whole number in the chosen amount unit");
}

}  // namespace lightning
}  // namespace petalsln
