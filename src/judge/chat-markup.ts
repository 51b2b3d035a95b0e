// Chat markup of the policies an RLHF pipeline trains: what a user turn looks like, where the
// assistant's turn starts and what ends it, for the common templates (ChatML / Qwen, Llama 3,
// Mistral, Gemma, Phi-3, DeepSeek). OpenRLHF sends each rollout as the rendered prompt followed by
// the policy's text with its markup; the judge needs the question and the response as plain text.

export interface ChatMarkup {
  name: string;
  /** The text of each user turn is capture group 1 (the last match is the question). */
  userTurn: RegExp;
  /** Where the assistant's own text starts (after its header). */
  assistantStart: RegExp;
  /** What ends the assistant's turn (the first one found ends the response). */
  endMarkers: readonly string[];
  /** The template's control tokens, removed from the question and the response. */
  control: RegExp;
}

export const CHAT_MARKUPS: readonly ChatMarkup[] = [
  {
    name: "chatml",
    userTurn: /<\|im_start\|>user[ \t]*\n([\s\S]*?)(?=<\|im_end\|>|<\|im_start\|>|$)/g,
    assistantStart: /<\|im_start\|>assistant[ \t]*\n/g,
    endMarkers: ["<|im_end|>", "<|endoftext|>", "<|im_start|>"],
    control: /<\|(?:im_start|im_end|endoftext|vision_start|vision_end|image_pad|video_pad)\|>/g,
  },
  {
    name: "llama3",
    userTurn:
      /<\|start_header_id\|>user<\|end_header_id\|>\s*([\s\S]*?)(?=<\|eot_id\|>|<\|start_header_id\|>|$)/g,
    assistantStart: /<\|start_header_id\|>assistant<\|end_header_id\|>\s*/g,
    endMarkers: ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|start_header_id|>"],
    control:
      /<\|(?:begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|finetune_right_pad_id|reserved_special_token_\d+)\|>/g,
  },
  {
    name: "mistral",
    userTurn: /\[INST\]([\s\S]*?)(?=\[\/INST\]|$)/g,
    assistantStart: /\[\/INST\]/g,
    endMarkers: ["</s>", "[INST]"],
    control: /<\/?s>|\[\/?(?:INST|SYSTEM_PROMPT)\]/g,
  },
  {
    name: "gemma",
    userTurn: /<start_of_turn>user[ \t]*\n([\s\S]*?)(?=<end_of_turn>|<start_of_turn>|$)/g,
    assistantStart: /<start_of_turn>model[ \t]*\n/g,
    endMarkers: ["<end_of_turn>", "<eos>", "<start_of_turn>"],
    control: /<(?:bos|eos|pad|start_of_turn|end_of_turn)>/g,
  },
  {
    name: "phi3",
    userTurn: /<\|user\|>\s*([\s\S]*?)(?=<\|end\|>|<\|assistant\|>|$)/g,
    assistantStart: /<\|assistant\|>\s*/g,
    endMarkers: ["<|end|>", "<|endoftext|>", "<|user|>"],
    control: /<\|(?:user|assistant|system|end|endoftext)\|>/g,
  },
  {
    name: "deepseek",
    userTurn: /<｜User｜>([\s\S]*?)(?=<｜Assistant｜>|<｜end▁of▁sentence｜>|$)/g,
    assistantStart: /<｜Assistant｜>/g,
    endMarkers: ["<｜end▁of▁sentence｜>", "<｜User｜>"],
    control: /<｜(?:begin▁of▁sentence|end▁of▁sentence|User|Assistant)｜>/g,
  },
];

/** The markup `text` is written in: the first whose user turn or assistant header it holds. */
export function detectMarkup(text: string): ChatMarkup | undefined {
  return CHAT_MARKUPS.find(
    (m) => new RegExp(m.userTurn.source).test(text) || new RegExp(m.assistantStart.source).test(text),
  );
}

function lastMatch(pattern: RegExp, text: string): RegExpExecArray | undefined {
  let last: RegExpExecArray | undefined;
  for (const match of text.matchAll(pattern)) last = match;
  return last;
}

function clean(text: string, markup: ChatMarkup | undefined): string {
  return (markup ? text.replace(markup.control, "") : text).trim();
}

/** The question of a rendered prompt: its last user turn in the markup it uses, else all of it. */
export function questionOf(prompt: string): string {
  const markup = detectMarkup(prompt);
  const turn = markup && lastMatch(markup.userTurn, prompt);
  return clean(turn ? (turn[1] as string) : prompt, markup);
}

/**
 * The policy's response in `query` (its rendered prompt followed by the generated text): the text
 * after `prompt` where the query holds it (left padding or a second BOS can come first), else after
 * the query's last assistant header; cut at the first end-of-turn marker of the query's markup (or
 * of `extraEndMarkers`) and cleared of its control tokens. Undefined when nothing locates it.
 */
export function responseOf(
  query: string,
  prompt: string,
  extraEndMarkers: readonly string[] = [],
): string | undefined {
  const markup = detectMarkup(query) ?? detectMarkup(prompt);
  let tail: string | undefined;
  const at = prompt.length > 0 ? query.indexOf(prompt) : -1;
  if (at >= 0) tail = query.slice(at + prompt.length);
  else if (markup) {
    const header = lastMatch(markup.assistantStart, query);
    if (header) tail = query.slice(header.index + header[0].length);
  }
  if (tail === undefined && prompt.length === 0) tail = query;
  if (tail === undefined) return undefined;
  if (markup) {
    // A prompt rendered without the generation prompt leaves the assistant header in the tail.
    const header = new RegExp(`^\\s*(?:${markup.assistantStart.source})`).exec(tail);
    if (header) tail = tail.slice(header[0].length);
  }
  let end = tail.length;
  for (const marker of [...(markup?.endMarkers ?? []), ...extraEndMarkers]) {
    const i = tail.indexOf(marker);
    if (i >= 0 && i < end) end = i;
  }
  return clean(tail.slice(0, end), markup);
}
