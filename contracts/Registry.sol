// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ocnd Registry
/// @notice Directory of OCN node operators and OCPI parties.  The external
///         interface (function selectors, argument and return encodings,
///         events, revert reasons, raw-signature payloads) is that of the
///         Open Charging Network Registry, so existing clients and existing
///         meta-transaction signatures keep working.  Behavioural differences
///         are listed in contracts/README.md.
/// @dev    Roles and modules are plain uint8 values on the wire (CPO=0 ..
///         SCSP=6, cdrs=0 .. tokens=6).  They are kept as uint8 here, instead
///         of Solidity enums, so that an out-of-range value fails with a
///         readable revert reason rather than a bare decoder revert.
contract Registry {
    // ------------------------------------------------------------------
    // Types and storage
    // ------------------------------------------------------------------

    /// @dev Number of values of both the Role and the Module enumerations.
    uint8 private constant ENUM_SIZE = 7;

    bytes private constant SIG_PREFIX = "\x19Ethereum Signed Message:\n32";

    struct Party {
        bytes2 countryCode;
        bytes3 partyId;
        address operator; // zero means "no such party"
        uint8[] roles;
        uint8[] modulesSender;
        uint8[] modulesReceiver;
    }

    address private _owner;

    /// operator => domain (empty means "no node")
    mapping(address => string) private _domainOf;
    /// keccak256(domain) => operator currently holding it
    mapping(bytes32 => address) private _domainHolder;
    /// active operators, plus 1-based positions for swap-and-pop removal
    address[] private _operators;
    mapping(address => uint256) private _operatorPos;

    /// party => details
    mapping(address => Party) private _parties;
    /// (country code, party id) => party
    mapping(bytes2 => mapping(bytes3 => address)) private _partyByOcpi;
    /// active parties, plus 1-based positions for swap-and-pop removal
    address[] private _partyList;
    mapping(address => uint256) private _partyPos;

    // ------------------------------------------------------------------
    // Events (signatures and indexed flags match the OCN Registry)
    // ------------------------------------------------------------------

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    event OperatorUpdate(address indexed operator, string domain);

    event PartyUpdate(
        bytes2 countryCode,
        bytes3 partyId,
        address indexed partyAddress,
        uint8[] roles,
        uint8[] modulesSender,
        uint8[] modulesReceiver,
        address indexed operatorAddress
    );

    /// @dev Declared for ABI parity with the OCN Registry; never emitted.
    event DebugPacked(bytes packed);
    /// @dev Declared for ABI parity with the OCN Registry; never emitted.
    event DebugHash(bytes32 hash);

    constructor() {
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    // ------------------------------------------------------------------
    // Ownership
    // ------------------------------------------------------------------

    modifier onlyOwner() {
        require(msg.sender == _owner, "Ownable: caller is not the owner");
        _;
    }

    function owner() external view returns (address) {
        return _owner;
    }

    function isOwner() external view returns (bool) {
        return msg.sender == _owner;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "Ownable: new owner is the zero address");
        emit OwnershipTransferred(_owner, newOwner);
        _owner = newOwner;
    }

    function renounceOwnership() external onlyOwner {
        emit OwnershipTransferred(_owner, address(0));
        _owner = address(0);
    }

    // ------------------------------------------------------------------
    // Signature helper
    // ------------------------------------------------------------------

    /// @dev Recovers the signer of an OCN raw payload: personal_sign over the
    ///      keccak256 of the packed fields.  A zero result (malformed
    ///      signature) is rejected.
    function _recover(bytes memory packed, uint8 v, bytes32 r, bytes32 s) private pure returns (address signer) {
        bytes32 digest = keccak256(abi.encodePacked(SIG_PREFIX, keccak256(packed)));
        signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "Invalid signature: no signer recovered.");
    }

    function _checkEnums(uint8[] calldata values, string memory reason) private pure {
        for (uint256 i = 0; i < values.length; i++) {
            require(values[i] < ENUM_SIZE, reason);
        }
    }

    // ------------------------------------------------------------------
    // Nodes
    // ------------------------------------------------------------------

    function setNode(string calldata domain) external {
        _setNode(msg.sender, domain);
    }

    function setNodeRaw(address operator, string calldata domain, uint8 v, bytes32 r, bytes32 s) external {
        address signer = _recover(abi.encodePacked(operator, domain), v, r, s);
        require(signer == operator, "Signer and provided operator address different.");
        _setNode(signer, domain);
    }

    function deleteNode() external {
        _deleteNode(msg.sender);
    }

    function deleteNodeRaw(address operator, uint8 v, bytes32 r, bytes32 s) external {
        address signer = _recover(abi.encodePacked(operator), v, r, s);
        require(signer == operator, "Signer and provided operator address different.");
        _deleteNode(signer);
    }

    function adminDeleteOperator(address operator) external onlyOwner {
        _deleteNode(operator);
    }

    function _setNode(address operator, string calldata domain) private {
        require(bytes(domain).length != 0, "Cannot set empty domain name. Use deleteNode method instead.");
        bytes32 key = keccak256(bytes(domain));
        require(_domainHolder[key] == address(0), "Domain name already registered.");

        bytes storage previous = bytes(_domainOf[operator]);
        if (previous.length != 0) {
            // an update: give the old domain back
            delete _domainHolder[keccak256(previous)];
        } else if (_operatorPos[operator] == 0) {
            _operators.push(operator);
            _operatorPos[operator] = _operators.length;
        }
        _domainHolder[key] = operator;
        _domainOf[operator] = domain;
        emit OperatorUpdate(operator, domain);
    }

    function _deleteNode(address operator) private {
        bytes storage domain = bytes(_domainOf[operator]);
        require(domain.length != 0, "Cannot delete node that does not exist.");
        delete _domainHolder[keccak256(domain)];
        delete _domainOf[operator];
        _removeFromList(_operators, _operatorPos, operator);
        emit OperatorUpdate(operator, "");
    }

    // ------------------------------------------------------------------
    // Parties
    // ------------------------------------------------------------------

    function setParty(bytes2 countryCode, bytes3 partyId, uint8[] calldata roles, address operator) external {
        _setParty(msg.sender, countryCode, partyId, roles, operator);
    }

    function setPartyRaw(
        address party,
        bytes2 countryCode,
        bytes3 partyId,
        uint8[] calldata roles,
        address operator,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        address signer = _recover(abi.encodePacked(party, countryCode, partyId, roles, operator), v, r, s);
        require(signer == party, "Signer and provided party address different.");
        _setParty(signer, countryCode, partyId, roles, operator);
    }

    function setPartyModules(uint8[] calldata sender, uint8[] calldata receiver) external {
        _setPartyModules(msg.sender, sender, receiver);
    }

    function setPartyModulesRaw(
        address party,
        uint8[] calldata sender,
        uint8[] calldata receiver,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        address signer = _recover(abi.encodePacked(party, sender, receiver), v, r, s);
        require(signer == party, "Signer and provided party address different.");
        _setPartyModules(signer, sender, receiver);
    }

    function deleteParty() external {
        _deleteParty(msg.sender);
    }

    function deletePartyRaw(address party, uint8 v, bytes32 r, bytes32 s) external {
        address signer = _recover(abi.encodePacked(party), v, r, s);
        require(signer == party, "Signer and provided party address different.");
        _deleteParty(signer);
    }

    function adminDeleteParty(bytes2 countryCode, bytes3 partyId) external onlyOwner {
        _deleteParty(_partyByOcpi[countryCode][partyId]);
    }

    function _setParty(
        address party,
        bytes2 countryCode,
        bytes3 partyId,
        uint8[] calldata roles,
        address operator
    ) private {
        require(countryCode != bytes2(0), "Cannot set empty country_code. Use deleteParty method instead.");
        require(partyId != bytes3(0), "Cannot set empty party_id. Use deleteParty method instead.");
        require(roles.length != 0, "No roles provided.");
        _checkEnums(roles, "Invalid role provided.");
        require(operator != address(0), "Cannot set empty operator. Use deleteParty method instead.");
        address holder = _partyByOcpi[countryCode][partyId];
        require(
            holder == address(0) || holder == party,
            "Party with country_code/party_id already registered under different address."
        );
        require(bytes(_domainOf[operator]).length != 0, "Provided operator not registered.");

        Party storage p = _parties[party];
        if (p.operator == address(0)) {
            _partyList.push(party);
            _partyPos[party] = _partyList.length;
        } else if (p.countryCode != countryCode || p.partyId != partyId) {
            // moving to a new (cc, pid): release the old key
            delete _partyByOcpi[p.countryCode][p.partyId];
        }
        _partyByOcpi[countryCode][partyId] = party;
        p.countryCode = countryCode;
        p.partyId = partyId;
        p.operator = operator;
        p.roles = roles;
        delete p.modulesSender;
        delete p.modulesReceiver;

        uint8[] memory none = new uint8[](0);
        emit PartyUpdate(countryCode, partyId, party, roles, none, none, operator);
    }

    function _setPartyModules(address party, uint8[] calldata modulesSender, uint8[] calldata modulesReceiver)
        private
    {
        Party storage p = _parties[party];
        require(p.operator != address(0), "Party not registered. Use setParty method first.");
        _checkEnums(modulesSender, "Invalid module provided.");
        _checkEnums(modulesReceiver, "Invalid module provided.");
        p.modulesSender = modulesSender;
        p.modulesReceiver = modulesReceiver;
        emit PartyUpdate(p.countryCode, p.partyId, party, p.roles, modulesSender, modulesReceiver, p.operator);
    }

    function _deleteParty(address party) private {
        Party storage p = _parties[party];
        require(
            p.operator != address(0),
            "Cannot delete party that does not exist. No operator found for given party."
        );
        bytes2 countryCode = p.countryCode;
        bytes3 partyId = p.partyId;
        delete _partyByOcpi[countryCode][partyId];
        delete _parties[party];
        _removeFromList(_partyList, _partyPos, party);

        uint8[] memory none = new uint8[](0);
        emit PartyUpdate(countryCode, partyId, party, none, none, none, address(0));
    }

    // ------------------------------------------------------------------
    // Lists
    // ------------------------------------------------------------------

    function _removeFromList(address[] storage list, mapping(address => uint256) storage pos, address item) private {
        uint256 idx = pos[item];
        if (idx == 0) {
            return;
        }
        uint256 last = list.length;
        if (idx != last) {
            address moved = list[last - 1];
            list[idx - 1] = moved;
            pos[moved] = idx;
        }
        list.pop();
        delete pos[item];
    }

    // ------------------------------------------------------------------
    // Views (unknown keys give zero values, never a revert)
    // ------------------------------------------------------------------

    function getNode(address operator) external view returns (string memory) {
        return _domainOf[operator];
    }

    /// @notice Operators that currently have a node (deleted ones are dropped).
    function getNodeOperators() external view returns (address[] memory) {
        return _operators;
    }

    function getOperatorByAddress(address party) public view returns (address operator, string memory domain) {
        operator = _parties[party].operator;
        domain = _domainOf[operator];
    }

    function getOperatorByOcpi(bytes2 countryCode, bytes3 partyId)
        external
        view
        returns (address operator, string memory domain)
    {
        return getOperatorByAddress(_partyByOcpi[countryCode][partyId]);
    }

    function getPartyDetailsByAddress(address partyAddress)
        external
        view
        returns (
            bytes2 countryCode,
            bytes3 partyId,
            uint8[] memory modulesSender,
            uint8[] memory modulesReceiver,
            uint8[] memory roles,
            address operatorAddress,
            string memory operatorDomain
        )
    {
        Party storage p = _parties[partyAddress];
        return (
            p.countryCode,
            p.partyId,
            p.modulesSender,
            p.modulesReceiver,
            p.roles,
            p.operator,
            _domainOf[p.operator]
        );
    }

    function getPartyDetailsByOcpi(bytes2 countryCode, bytes3 partyId)
        external
        view
        returns (
            address partyAddress,
            uint8[] memory roles,
            uint8[] memory modulesSender,
            uint8[] memory modulesReceiver,
            address operatorAddress,
            string memory operatorDomain
        )
    {
        partyAddress = _partyByOcpi[countryCode][partyId];
        Party storage p = _parties[partyAddress];
        return (partyAddress, p.roles, p.modulesSender, p.modulesReceiver, p.operator, _domainOf[p.operator]);
    }

    /// @notice Currently registered parties (deleted ones are dropped).
    function getParties() external view returns (address[] memory) {
        return _partyList;
    }
}
