// The judging prompt every engine benchmark measures: R1-Reward's template, text only, a short
// question and two answers (311 tokens with the Qwen tokenizer, 396 with the demo's).

import { readFileSync } from "node:fs";
import path from "node:path";
import { parsePreprocessorConfig } from "../src/engine/images/config.js";
import type { PromptTensors } from "../src/engine/model.js";
import { preparePrompt } from "../src/engine/prompt-inputs.js";
import { TextCodec } from "../src/engine/tokenizer.js";
import { judgeMessages } from "../src/judge/prompt.js";

export const MESSAGES = judgeMessages(
  "A train leaves at 14:10 and arrives at 16:45. How long is the journey, in minutes?",
  "From 14:10 to 16:10 is two hours, 120 minutes, and from 16:10 to 16:45 is 35 more minutes, " +
    "so the journey takes 155 minutes in total.",
  "The train travels from 14:10 to 16:45; subtracting gives 2 hours and 35 minutes, which is " +
    "2 × 60 + 35 = 145 minutes.",
);

/** MESSAGES rendered and tokenized with the checkpoint at `dir`'s tokenizer. */
export async function promptFor(dir: string): Promise<PromptTensors> {
  const codec = await TextCodec.load(dir);
  const preprocessor = parsePreprocessorConfig(
    JSON.parse(readFileSync(path.join(dir, "preprocessor_config.json"), "utf8")),
  );
  return (await preparePrompt(codec, MESSAGES, undefined, preprocessor.mergeSize, { maxPromptTokens: 1e6 }))
    .tensors;
}
