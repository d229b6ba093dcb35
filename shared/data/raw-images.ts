// The decoded form every image source produces: 8-bit pixels and labels, before slicing or scaling.

/** Decoded 8-bit images of one split, in source order. */
export interface RawImages {
  /** count × height × width bytes, row-major. */
  readonly pixels: Uint8Array;
  /** count labels, each < numClasses. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}
