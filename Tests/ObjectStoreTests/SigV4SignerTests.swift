import ObjectStore
import Testing

/// The signer against the worked example in Amazon's S3 documentation ("Signature Calculations for the
/// Authorization Header", GET object with a Range header).
@Suite struct SigV4SignerTests {
    @Test func matchesAmazonsGetObjectExample() {
        let signer = SigV4Signer(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1")
        let headers = signer.sign(
            method: "GET", path: "/test.txt", query: [], headers: [("Range", "bytes=0-9")],
            host: "examplebucket.s3.amazonaws.com", payloadHash: SigV4Signer.emptyPayloadHash,
            date: "20130524T000000Z")
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(
            authorization
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func encodesLikeS3() {
        #expect(SigV4Signer.uriEncode("a b/c~d*", keepSlash: true) == "a%20b/c~d%2A")
        #expect(SigV4Signer.uriEncode("a/b") == "a%2Fb")
    }
}
