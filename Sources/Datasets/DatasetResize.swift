// Resampling a whole in-memory dataset to the model's input size once, at load
// (data.resize: Fashion-MNIST's 28x28 as 32x32 for the standard networks), with
// the image-folder reader's filter: PIL's antialiased bilinear over the centred
// square (torchvision's Resize of a square image), rounded to uint8 once.

extension ImageDataset {
    /// This dataset with every image resampled to size x size (itself when already that size).
    public func resized(to size: Int) throws -> ImageDataset {
        guard size > 0 else { throw DataError(file: source, "resize to \(size) pixels, expected > 0") }
        if height == size && width == size { return self }
        let outBytes = channels * size * size
        var out = [UInt8](repeating: 0, count: count * outBytes)
        var resampler = ImageResampler()
        let box = SourceBox.centreSquare(width: width, height: height)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    resampler.resample(src.baseAddress! + i * sampleBytes, planes: channels, width: width, height: height,
                                       box: box, outSize: size, outChannels: channels,
                                       into: dst.baseAddress! + i * outBytes)
                }
            }
        }
        return try ImageDataset(pixels: out, labels: labels, channels: channels, height: size, width: size,
                                classes: classes, source: "\(source) resized to \(size)x\(size)")
    }
}
