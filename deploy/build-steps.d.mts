// Types of build-steps.mjs, for the test that reads the Dockerfile with the same parser.
export interface DockerInstruction {
  readonly keyword: string;
  readonly args: string;
}
export function instructions(text: string): DockerInstruction[];
export function stages(text: string): Map<string, { from: string; steps: DockerInstruction[] }>;
