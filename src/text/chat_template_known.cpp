// The chat templates petalsln recognises. Each entry is the template's text exactly as
// published (copied from the checkpoints' tokenizer_config.json / chat_template.jinja), so that
// recognition compares like with like; a template is recognised when its canonical form (see
// chat_template_jinja.hpp) equals an entry's. The rendering rules beside each text were checked
// against transformers' Jinja rendering of that text.

#include "text/chat_template_known.hpp"

#include <vector>

#include "petalsln/util/error.hpp"
#include "text/chat_template_jinja.hpp"

namespace petalsln::text {

namespace {

// In a known text, this marks the part of a string literal that may hold any text: the default
// system prompt of SmolLM2-style ChatML templates, which fine-tunes change freely.
constexpr std::string_view kDefaultSystemCapture = "@DEFAULT_SYSTEM@";

struct KnownTemplate {
  const char* name;
  ChatTemplateFamily family;
  const char* text;
  const char* default_system;  // fixed default system prompt, if any
  bool dated_system_turn;
  bool always_generation_prompt;
};

// ChatML, as transformers' old default template and many fine-tunes (OpenHermes, ...) ship it:
// one `<|im_start|>role\ncontent<|im_end|>\n` per message, nothing else.
constexpr const char* kChatmlText =
    R"tpl({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})tpl";

// The same ChatML with a guard that defaults add_generation_prompt (dolphin-2.x and others).
constexpr const char* kChatmlGuardedText =
    R"tpl({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})tpl";

// SmolLM2-style ChatML: a default system turn goes first when the conversation does not open
// with a system message. The prompt text varies between checkpoints (SmolLM2-Instruct says
// "You are a helpful AI assistant named SmolLM, trained by Hugging Face"; the fixtures and the
// demo model say "You are a helpful AI assistant."), so it is captured, not compared.
constexpr const char* kChatmlDefaultSystemText =
    R"tpl({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n@DEFAULT_SYSTEM@<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})tpl";

// Qwen2.5-*-Instruct: ChatML whose default system prompt introduces Qwen; the tool branches
// stay dormant because petalsln passes no tools and no tool messages.
constexpr const char* kQwen25Text =
    R"tpl({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)tpl";

// A compact Llama 3 form: bos_token, then `<|start_header_id|>role<|end_header_id|>\n\n` +
// trimmed content + `<|eot_id|>` per message (the tiny-llama3 fixture uses it).
constexpr const char* kLlama3CompactText =
    R"tpl({{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>

' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %})tpl";

// Meta-Llama-3-*-Instruct: the same turns, bos_token glued to the first one.
constexpr const char* kLlama3Text =
    R"tpl({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})tpl";

// The first Meta-Llama-3-Instruct release: no add_generation_prompt test, the assistant header
// is always appended.
constexpr const char* kLlama3FirstReleaseText =
    R"tpl({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }})tpl";

// Llama-3.1-*-Instruct: always opens with a system turn stating the knowledge cutoff and the
// date (transformers passes no date_string, so the template's default "26 Jul 2024" applies);
// a leading system message is trimmed into that turn. Tool branches stay dormant. (Llama 3.2
// differs: it asks strftime_now for today's date, so its prompts change daily; not supported.)
constexpr const char* kLlama31Text =
    R"tpl({{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
)tpl";

constexpr const char* kQwenDefaultSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

using F = ChatTemplateFamily;
const KnownTemplate kKnownTemplates[] = {
    {"ChatML", F::chatml, kChatmlText, nullptr, false, false},
    {"ChatML", F::chatml, kChatmlGuardedText, nullptr, false, false},
    {"ChatML with a default system prompt (SmolLM2 style)", F::chatml, kChatmlDefaultSystemText,
     nullptr, false, false},
    {"Qwen2.5", F::chatml, kQwen25Text, kQwenDefaultSystem, false, false},
    {"Llama 3 (compact)", F::llama3, kLlama3CompactText, nullptr, false, false},
    {"Llama 3", F::llama3, kLlama3Text, nullptr, false, false},
    {"Llama 3 (first release)", F::llama3, kLlama3FirstReleaseText, nullptr, false, true},
    {"Llama 3.1", F::llama3, kLlama31Text, nullptr, true, false},
};

const std::vector<std::vector<JinjaToken>>& known_canonical_forms() {
  static const std::vector<std::vector<JinjaToken>> forms = [] {
    std::vector<std::vector<JinjaToken>> out;
    for (const KnownTemplate& known : kKnownTemplates) {
      auto form = canonical_jinja(known.text);
      if (!form) {
        throw Error(ErrorCode::internal,
                    std::string("built-in chat template \"") + known.name + "\" does not lex");
      }
      out.push_back(std::move(*form));
    }
    return out;
  }();
  return forms;
}

// Compares one token; a known string literal holding kDefaultSystemCapture matches any literal
// with the same text around it, and the text in its place is stored in @p captured.
bool token_matches(const JinjaToken& known, const JinjaToken& candidate,
                   std::optional<std::string>& captured) {
  if (known.kind != candidate.kind) return false;
  const std::size_t at = known.kind == JinjaToken::Kind::string
                             ? known.value.find(kDefaultSystemCapture)
                             : std::string::npos;
  if (at == std::string::npos) return known.value == candidate.value;
  const std::string_view prefix = std::string_view(known.value).substr(0, at);
  const std::string_view suffix =
      std::string_view(known.value).substr(at + kDefaultSystemCapture.size());
  const std::string_view value = candidate.value;
  if (value.size() < prefix.size() + suffix.size() || value.substr(0, prefix.size()) != prefix ||
      value.substr(value.size() - suffix.size()) != suffix) {
    return false;
  }
  captured = std::string(value.substr(prefix.size(), value.size() - prefix.size() - suffix.size()));
  return true;
}

bool form_matches(const std::vector<JinjaToken>& known, const std::vector<JinjaToken>& candidate,
                  std::optional<std::string>& captured) {
  if (known.size() != candidate.size()) return false;
  for (std::size_t i = 0; i < known.size(); ++i) {
    if (!token_matches(known[i], candidate[i], captured)) return false;
  }
  return true;
}

}  // namespace

std::optional<ChatTemplateRules> recognise_chat_template(std::string_view template_text) {
  const auto candidate = canonical_jinja(template_text);
  if (!candidate) return std::nullopt;
  const auto& forms = known_canonical_forms();
  for (std::size_t i = 0; i < forms.size(); ++i) {
    std::optional<std::string> captured;
    if (!form_matches(forms[i], *candidate, captured)) continue;
    const KnownTemplate& known = kKnownTemplates[i];
    ChatTemplateRules rules;
    rules.name = known.name;
    rules.family = known.family;
    if (captured) {
      rules.default_system = std::move(captured);
    } else if (known.default_system != nullptr) {
      rules.default_system = known.default_system;
    }
    rules.dated_system_turn = known.dated_system_turn;
    rules.always_generation_prompt = known.always_generation_prompt;
    return rules;
  }
  return std::nullopt;
}

std::string known_chat_templates_summary() {
  return "chatml (ChatML; ChatML with a default system prompt, SmolLM2 style; Qwen2.5), "
         "llama3 (Llama 3 compact; Meta-Llama-3-Instruct; Llama-3.1-Instruct)";
}

}  // namespace petalsln::text
