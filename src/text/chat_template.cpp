// ChatTemplate: loading a checkpoint's template, recognising it, rendering conversations.

#include "petalsln/text/chat_template.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "text/chat_template_jinja.hpp"
#include "text/chat_template_known.hpp"
#include "util/utf8.hpp"

namespace petalsln {

namespace {

using nlohmann::json;

constexpr const char* kJinjaFile = "chat_template.jinja";
constexpr const char* kConfigFile = "tokenizer_config.json";

// The roles every recognised template renders as plain turns. Others ("tool", "ipython", ...)
// take template branches petalsln does not implement, so they are refused up front.
bool is_plain_role(const std::string& role) {
  return role == "system" || role == "user" || role == "assistant";
}

json parse_config(const std::string& path) {
  try {
    return json::parse(util::read_file(path));
  } catch (const json::exception& e) {
    throw Error(ErrorCode::invalid_format, path + " is not valid JSON: " + e.what());
  }
}

// A special token in tokenizer_config.json: a string, an AddedToken object {"content": ...},
// or null/absent (transformers then leaves the Jinja variable undefined, which renders empty).
std::string special_token(const json& config, const char* key, const std::string& path) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  throw Error(ErrorCode::invalid_format,
              path + ": \"" + key + "\" must be a string or an object with a string \"content\"");
}

// The "chat_template" entry: a string, or a list of named templates of which "default" is the
// one apply_chat_template uses when no name is given. Returns nullopt when there is none.
std::optional<std::string> config_template(const json& config, const std::string& path) {
  const auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) {
    throw Error(ErrorCode::invalid_format,
                path + ": \"chat_template\" must be a string or a list of {name, template}");
  }
  std::string names;
  for (const json& entry : *it) {
    const auto name = entry.is_object() ? entry.find("name") : entry.end();
    const auto text = entry.is_object() ? entry.find("template") : entry.end();
    if (name == entry.end() || !name->is_string() || text == entry.end() || !text->is_string()) {
      throw Error(ErrorCode::invalid_format, path + ": each \"chat_template\" entry must have "
                                                    "string \"name\" and \"template\"");
    }
    if (*name == "default") return text->get<std::string>();
    names += (names.empty() ? "" : ", ") + name->get<std::string>();
  }
  throw Error(ErrorCode::not_found,
              path + ": \"chat_template\" lists no \"default\" template (it has: " + names + ")");
}

void require_utf8_file(const std::string& text, const std::string& path) {
  const std::size_t bad = util::find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw Error(ErrorCode::invalid_format,
                path + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
}

void check_messages(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) {
    throw Error(ErrorCode::invalid_argument, "cannot render a chat template: no messages");
  }
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string where = "chat message " + std::to_string(i);
    if (!is_plain_role(messages[i].role)) {
      // The role goes into the message below, so make sure it is printable text first.
      util::require_valid_utf8(messages[i].role, (where + " role").c_str());
      throw Error(ErrorCode::invalid_argument,
                  where + " has role \"" + messages[i].role +
                      "\"; only \"system\", \"user\" and \"assistant\" turns can be rendered");
    }
    util::require_valid_utf8(messages[i].content, (where + " content").c_str());
  }
}

void append_chatml_turn(std::string& out, const std::string& role, std::string_view content) {
  out.append("<|im_start|>").append(role).append("\n").append(content).append("<|im_end|>\n");
}

// Llama 3 turns trim their content with Jinja's `trim` filter (Python's str.strip()).
void append_llama3_turn(std::string& out, const std::string& role, std::string_view content) {
  out.append("<|start_header_id|>").append(role).append("<|end_header_id|>\n\n");
  out.append(text::python_strip(content)).append("<|eot_id|>");
}

}  // namespace

const char* to_string(ChatTemplateFamily family) noexcept {
  switch (family) {
    case ChatTemplateFamily::chatml: return "chatml";
    case ChatTemplateFamily::llama3: return "llama3";
  }
  return "unknown";
}

ChatTemplate ChatTemplate::load(const std::string& model_dir) {
  const std::string jinja_path = util::join_path(model_dir, kJinjaFile);
  const std::string config_path = util::join_path(model_dir, kConfigFile);
  json config = json::object();
  if (util::is_regular_file(config_path)) config = parse_config(config_path);
  if (!config.is_object()) {
    throw Error(ErrorCode::invalid_format, config_path + " must hold a JSON object");
  }
  const std::string bos = special_token(config, "bos_token", config_path);
  const std::string eos = special_token(config, "eos_token", config_path);

  if (util::is_regular_file(jinja_path)) {
    const std::string text = util::read_file(jinja_path);
    require_utf8_file(text, jinja_path);
    return recognise(text, bos, eos, jinja_path);
  }
  if (auto text = config_template(config, config_path)) {
    return recognise(*text, bos, eos, config_path);
  }
  throw Error(ErrorCode::not_found, "no chat template in " + model_dir + ": neither " +
                                        kJinjaFile + " nor a \"chat_template\" entry in " +
                                        kConfigFile);
}

ChatTemplate ChatTemplate::from_text(const std::string& template_text,
                                     const std::string& bos_token, const std::string& eos_token) {
  util::require_valid_utf8(template_text, "chat template text");
  util::require_valid_utf8(bos_token, "bos_token");
  util::require_valid_utf8(eos_token, "eos_token");
  return recognise(template_text, bos_token, eos_token, "the given template text");
}

ChatTemplate ChatTemplate::recognise(const std::string& template_text,
                                     const std::string& bos_token, const std::string& eos_token,
                                     const std::string& origin) {
  auto rules = text::recognise_chat_template(template_text);
  if (!rules) {
    throw Error(ErrorCode::unsupported,
                "unsupported chat template in " + origin +
                    ": it is not one of the templates petalsln renders exactly (petalsln "
                    "recognises known templates instead of running a Jinja engine); known "
                    "families: " + text::known_chat_templates_summary());
  }
  ChatTemplate result;
  result.family_ = rules->family;
  result.name_ = std::move(rules->name);
  result.bos_token_ = bos_token;
  result.eos_token_ = eos_token;
  result.default_system_ = std::move(rules->default_system);
  result.dated_system_turn_ = rules->dated_system_turn;
  result.always_generation_prompt_ = rules->always_generation_prompt;
  return result;
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages,
                                 bool add_generation_prompt) const {
  check_messages(messages);
  return family_ == ChatTemplateFamily::chatml ? render_chatml(messages, add_generation_prompt)
                                               : render_llama3(messages, add_generation_prompt);
}

std::string ChatTemplate::render_chatml(const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt) const {
  std::string out;
  if (default_system_ && messages.front().role != "system") {
    append_chatml_turn(out, "system", *default_system_);
  }
  for (const ChatMessage& message : messages) {
    append_chatml_turn(out, message.role, message.content);
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string ChatTemplate::render_llama3(const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt) const {
  std::string out = bos_token_;
  auto rest = messages.begin();
  if (dated_system_turn_) {
    // Llama 3.1 folds a leading system message into its dated system turn.
    std::string_view system;
    if (rest->role == "system") system = text::python_strip((rest++)->content);
    out.append("<|start_header_id|>system<|end_header_id|>\n\n");
    out.append("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
    out.append(system).append("<|eot_id|>");
  }
  for (; rest != messages.end(); ++rest) append_llama3_turn(out, rest->role, rest->content);
  if (add_generation_prompt || always_generation_prompt_) {
    out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  }
  return out;
}

}  // namespace petalsln
