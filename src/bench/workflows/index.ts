// The workflows of the Temporal baselines (bundled by the Temporal SDK from this path).
export { minimalLocal, minimalRegular } from './minimal';
